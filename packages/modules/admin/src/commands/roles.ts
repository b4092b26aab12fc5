// Roles and bans: /rol, /ban, /unban — each change decided on the target's row under a lock,
// audited and announced (admin.role_changed) — and the start-up sync of the OWNER role. Whoever
// has a VIP subscription running is VIP, not FREE, after /rol … gratuito or /unban.
import type { UserRole } from '@diana/db';
import { canAssignRole, getRoleLevel, ROLE_LABELS } from '@diana/security';
import type { Composer } from 'grammy';
import { type AdminContext, type AdminKit, displayName } from '../kit.js';
import { parseRoleName } from '../roles.js';
import { TEXTS } from '../texts.js';
import { formatHumanDate } from '../time.js';

/** Registers /rol, /ban and /unban; returns `syncOwners` (see `AdminModule.syncOwners`). */
export function registerRoles(composer: Composer<AdminContext>, kit: AdminKit) {
  const { db, users, deps, logger } = kit;
  const bus = deps.bus;

  /** `until`: a FREE asked for became VIP, as the target's subscription runs until then. */
  type RoleChange = { readonly to: UserRole; readonly until?: Date } | { readonly refuse: string };
  /**
   * Changes `target`'s role under a lock on their row: `decide` sees the role as it is now
   * (not as it was when the command was read), so two changes of one user run one after the
   * other and each is audited with the role the other left. Committed, the app drops its
   * cached row (`onRoleChanged`): a ban holds from the next update. `decide` runs inside
   * the transaction: what it reads through `db.session()` sees the locked row's world.
   */
  const changeRole = async (
    ctx: AdminContext,
    target: { readonly id: string; readonly telegram_id: number },
    action: 'role' | 'ban' | 'unban',
    decide: (current: UserRole) => RoleChange | Promise<RoleChange>,
    reason = '',
  ): Promise<RoleChange> => {
    const outcome = await db.transaction(async (tx): Promise<RoleChange> => {
      const [row] = await tx<{ role: UserRole }[]>`select role from users where id = ${target.id} for update`;
      if (!row) return { refuse: TEXTS.noSuchUser };
      const change = await decide(row.role);
      if ('refuse' in change) return change;
      await users.setRole(target.id, change.to);
      await kit.audit({
        actor: kit.actorOf(ctx),
        action,
        target: target.id,
        reason,
        details: { from: row.role, to: change.to },
        // the same update sent again (after another change, say) changes nothing: rolled back
        update_id: kit.updateOf(ctx),
      });
      await bus.publish(
        'admin.role_changed',
        { user_id: target.id, role: change.to, by: kit.actorOf(ctx) },
        { key: target.id },
      );
      return change;
    });
    if ('to' in outcome) await kit.roleChanged(target.telegram_id);
    return outcome;
  };

  /** The end of `user_id`'s running subscription, or undefined (read in the caller's transaction). */
  const runningUntil = async (user_id: string): Promise<Date | undefined> => {
    const [sub] = await db.session()<{ ends_at: Date }[]>`
      select ends_at from admin_subscriptions
      where user_id = ${user_id} and status = 'active' and ends_at > ${kit.now()}`;
    return sub?.ends_at;
  };

  // roles: nobody raises anyone to or above their own role
  composer.command(
    'rol',
    kit.guarded('assign_roles', async (ctx, [ref, roleName]) => {
      if (!ref || !roleName) return ctx.reply(TEXTS.usage('/rol <id de Telegram> <rol>'));
      const role = parseRoleName(roleName);
      if (!role) return ctx.reply(TEXTS.badRole(roleName));
      const target = await kit.findUser(ctx, ref);
      if (!target) return;
      if (target.id === ctx.user?.id) return ctx.reply(TEXTS.roleOwn(kit.actorRole(ctx) === 'OWNER'));
      const outcome = await changeRole(ctx, target, 'role', async (current) => {
        if (!canAssignRole(kit.actorRole(ctx), current, role)) return { refuse: TEXTS.roleForbidden };
        if (role !== 'FREE') return { to: role };
        // as /unban: whoever has a subscription running is VIP while it runs (its VIP levels and
        // channel go with it); ending it is /cancelar_vip's, which says so to the member
        const until = await runningUntil(target.id);
        if (until === undefined) return { to: 'FREE' };
        const date = formatHumanDate(until, kit.settings.timezone, kit.now());
        if (current === 'VIP') return { refuse: TEXTS.roleStaysVip(displayName(target), date, target.telegram_id) };
        return { to: 'VIP', until };
      });
      if (!('to' in outcome)) return ctx.reply(outcome.refuse);
      await ctx.reply(
        outcome.until === undefined
          ? TEXTS.roleChanged(displayName(target), ROLE_LABELS[role])
          : TEXTS.roleVipInsteadOfFree(
              displayName(target),
              formatHumanDate(outcome.until, kit.settings.timezone, kit.now()),
              target.telegram_id,
            ),
      );
    }),
  );

  // bans: a MODERATOR's own path (ban_users); only someone below the actor's role, never an OWNER
  composer.command(
    'ban',
    kit.guarded('ban_users', async (ctx, [ref, ...words]) => {
      if (!ref) return ctx.reply(TEXTS.usage('/ban <id de Telegram> [motivo]'));
      const reason = await kit.reasonOf(ctx, words);
      if (reason === undefined) return;
      const target = await kit.findUser(ctx, ref);
      if (!target) return;
      const outcome = await changeRole(
        ctx,
        target,
        'ban',
        (current) => {
          if (current === 'BANNED') return { refuse: TEXTS.alreadyBanned(displayName(target)) };
          if (getRoleLevel(current) >= getRoleLevel(kit.actorRole(ctx))) return { refuse: TEXTS.banForbidden };
          return { to: 'BANNED' };
        },
        reason,
      );
      await ctx.reply('to' in outcome ? TEXTS.banned(displayName(target)) : outcome.refuse);
    }),
  );

  // an unbanned user is VIP again while their subscription runs, FREE otherwise
  composer.command(
    'unban',
    kit.guarded('ban_users', async (ctx, [ref, ...words]) => {
      if (!ref) return ctx.reply(TEXTS.usage('/unban <id de Telegram> [motivo]'));
      const reason = await kit.reasonOf(ctx, words);
      if (reason === undefined) return;
      const target = await kit.findUser(ctx, ref);
      if (!target) return;
      const outcome = await changeRole(
        ctx,
        target,
        'unban',
        async (current) => {
          if (current !== 'BANNED') return { refuse: TEXTS.notBanned(displayName(target)) };
          return { to: (await runningUntil(target.id)) ? 'VIP' : 'FREE' };
        },
        reason,
      );
      await ctx.reply('to' in outcome ? TEXTS.unbanned(displayName(target), ROLE_LABELS[outcome.to]) : outcome.refuse);
    }),
  );

  const syncOwners = (owners: readonly number[]): Promise<Array<{ user_id: string; telegram_id: number }>> =>
    db.transaction(async (tx) => {
      // locked: a second process starting at once finds them ADMIN already (the row is re-checked)
      const rows = await tx<{ id: string; telegram_id: string }[]>`
        select id, telegram_id::text from users
        where role = 'OWNER' and not (telegram_id = any(${owners.map(String)}::text[]::bigint[]))
        order by telegram_id for update`;
      for (const row of rows) {
        await users.setRole(row.id, 'ADMIN');
        await kit.audit({
          actor: 'system',
          action: 'role',
          target: row.id,
          reason: 'not in owner_telegram_ids',
          details: { from: 'OWNER', to: 'ADMIN' },
        });
        await bus.publish('admin.role_changed', { user_id: row.id, role: 'ADMIN', by: 'system' }, { key: row.id });
        logger.warn({ user_id: row.id }, 'an OWNER not in owner_telegram_ids is ADMIN now');
      }
      return rows.map((row) => ({ user_id: row.id, telegram_id: Number(row.telegram_id) }));
    });
  return { syncOwners };
}
