// /admin: the staff commands the caller's role may run, one usage line each.
import { can, type Permission, ROLE_LABELS } from '@diana/security';
import type { Composer } from 'grammy';
import type { AdminContext, AdminKit } from '../kit.js';
import { TEXTS } from '../texts.js';

/** Every staff command and the permission it needs, in the order `/admin` lists them. */
export const STAFF_COMMANDS: ReadonlyArray<{ readonly command: string; readonly permission: Permission }> =
  Object.freeze([
    { command: 'programar', permission: 'publish_content' },
    { command: 'programados', permission: 'publish_content' },
    { command: 'cancelar_post', permission: 'publish_content' },
    { command: 'stats', permission: 'view_stats' },
    { command: 'usuario', permission: 'view_stats' },
    { command: 'auditoria', permission: 'view_stats' },
    { command: 'ban', permission: 'ban_users' },
    { command: 'unban', permission: 'ban_users' },
    { command: 'rol', permission: 'assign_roles' },
    { command: 'tarifas', permission: 'manage_subscriptions' },
    { command: 'tarifa', permission: 'manage_subscriptions' },
    { command: 'token', permission: 'manage_subscriptions' },
    { command: 'revocar', permission: 'manage_subscriptions' },
    { command: 'cancelar_vip', permission: 'manage_subscriptions' },
    { command: 'besitos', permission: 'grant_besitos' },
    { command: 'quitar_besitos', permission: 'grant_besitos' },
    { command: 'config', permission: 'edit_config' },
    { command: 'dlq', permission: 'replay_dlq' },
  ]);

/** The staff commands `role` may run (empty below CONTENT_CREATOR). */
export function staffCommandsFor(role: string): string[] {
  return STAFF_COMMANDS.filter((c) => can(role, c.permission)).map((c) => c.command);
}

/**
 * The staff part of a Telegram command menu for `role` (`setMyCommands` entries: lower-case
 * command, Spanish description), `/admin` first; empty below CONTENT_CREATOR.
 */
export function staffCommandMenu(role: string): Array<{ command: string; description: string }> {
  const commands = staffCommandsFor(role);
  return (commands.length === 0 ? [] : ['admin', ...commands]).map((command) => ({
    command,
    description: TEXTS.help[command]?.[1] ?? command,
  }));
}

export function registerHelp(composer: Composer<AdminContext>, kit: AdminKit): void {
  // someone with no staff command never learns this one exists either
  composer.command('admin', async (ctx, next) => {
    const role = kit.actorRole(ctx);
    const commands = staffCommandsFor(role);
    if (commands.length === 0) return next();
    const lines = ['admin', ...commands].map((command) => {
      const [usage, summary] = TEXTS.help[command] ?? [`/${command}`, ''];
      return TEXTS.helpLine(usage, summary);
    });
    const label = (ROLE_LABELS as Record<string, string>)[role] ?? role;
    await kit.replyPaged(ctx, [TEXTS.helpHeader(label), ...lines, '', TEXTS.helpFooter].join('\n'));
  });
}
