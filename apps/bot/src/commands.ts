// The bot's command catalog: every command a user or a staff member can type, with the line
// Telegram shows for it in the command menu (Spanish) and, for staff commands, the permission
// the admin module checks. The command menu (command-menu.ts), /ayuda and the main menu's
// buttons all read it, so a command is listed in one place.
import { USER_ROLES, type UserRole } from '@diana/db';
import { can, type Permission } from '@diana/security';
import type { BotCommand } from 'grammy/types';

/** A command as Telegram's menu lists it: `command` without the slash, `description` in Spanish. */
export interface CatalogCommand extends BotCommand {
  /** For staff commands: the permission the admin module requires (the lowest role holding it may run it). */
  readonly permission?: Permission;
}

/** What every user can do, in the order the menu shows it. */
export const USER_COMMANDS: readonly CatalogCommand[] = Object.freeze([
  { command: 'start', description: 'Empezar (o retomar) la historia' },
  { command: 'menu', description: 'El menú principal' },
  { command: 'ayuda', description: 'Qué puedes hacer aquí' },
  { command: 'historia', description: 'Seguir la historia donde la dejaste' },
  { command: 'mochila', description: 'Tus pistas y objetos' },
  { command: 'saldo', description: 'Tus besitos' },
  { command: 'regalo', description: 'Tu regalo diario de besitos' },
  { command: 'tienda', description: 'La tienda de Diana' },
  { command: 'misiones', description: 'Tus misiones y cuánto te falta' },
  { command: 'logros', description: 'Tus logros' },
  { command: 'historial', description: 'Tus últimos movimientos de besitos' },
  { command: 'perfil', description: 'Tu perfil: rol, besitos, racha y VIP' },
]);

/** The staff's commands (the admin module runs them), each with the permission it needs. */
export const STAFF_COMMANDS: readonly CatalogCommand[] = Object.freeze([
  { command: 'admin', description: 'Tus comandos de administración', permission: 'publish_content' },
  { command: 'usuario', description: 'Ver a un usuario: rol, saldo, VIP', permission: 'view_stats' },
  { command: 'besitos', description: 'Dar besitos a un usuario', permission: 'grant_besitos' },
  { command: 'quitar_besitos', description: 'Quitar besitos a un usuario', permission: 'grant_besitos' },
  { command: 'rol', description: 'Cambiar el rol de un usuario', permission: 'assign_roles' },
  { command: 'ban', description: 'Banear a un usuario', permission: 'ban_users' },
  { command: 'unban', description: 'Levantar el baneo de un usuario', permission: 'ban_users' },
  { command: 'token', description: 'Crear una invitación VIP', permission: 'manage_subscriptions' },
  { command: 'revocar', description: 'Anular una invitación VIP', permission: 'manage_subscriptions' },
  { command: 'tarifa', description: 'Crear una tarifa VIP', permission: 'manage_subscriptions' },
  { command: 'tarifas', description: 'Ver las tarifas VIP', permission: 'manage_subscriptions' },
  { command: 'programar', description: 'Programar una publicación', permission: 'publish_content' },
  { command: 'programados', description: 'Ver las publicaciones programadas', permission: 'publish_content' },
  { command: 'cancelar_post', description: 'Cancelar una publicación programada', permission: 'publish_content' },
  { command: 'auditoria', description: 'Las últimas acciones del equipo', permission: 'view_stats' },
  { command: 'dlq', description: 'Eventos fallidos: ver, reenviar, vaciar', permission: 'replay_dlq' },
  { command: 'config', description: 'Configuración en vivo', permission: 'edit_config' },
  { command: 'stats', description: 'Estadísticas del bot', permission: 'view_stats' },
]);

/** True for roles with staff commands (CONTENT_CREATOR, MODERATOR, ADMIN, OWNER): they get a menu of their own. */
export function isStaff(role: string): boolean {
  return staffCommandsFor(role).length > 0;
}

/** The staff commands `role` may run, in catalog order (none below CONTENT_CREATOR). */
export function staffCommandsFor(role: string): CatalogCommand[] {
  return STAFF_COMMANDS.filter((c) => c.permission !== undefined && can(role, c.permission));
}

/** The command menu `role` sees: the user commands, then the staff commands the role may run. */
export function menuCommandsFor(role: string): BotCommand[] {
  return [...USER_COMMANDS, ...staffCommandsFor(role)].map(({ command, description }) => ({ command, description }));
}

/** A command any user may start from a button (the catalog's user commands). */
export function isUserCommand(command: string): boolean {
  return USER_COMMANDS.some((c) => c.command === command);
}

/** The roles that hold a staff command, lowest first (for the start-up query of staff). */
export const STAFF_ROLES: readonly UserRole[] = Object.freeze(
  [...USER_ROLES].reverse().filter((role) => isStaff(role)),
);
