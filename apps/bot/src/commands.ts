// The bot's command catalog: every command a user can type, with the line Telegram shows for it
// in the command menu (Spanish); the staff's commands come from the admin module, which runs
// them and knows the permission each needs. The command menu (command-menu.ts), /ayuda and the
// main menu's buttons all read it, so a command is listed in one place.
import { staffCommandMenu } from '@diana/admin';
import { USER_ROLES, type UserRole } from '@diana/db';
import type { BotCommand } from 'grammy/types';

/** What every user can do, in the order the menu shows it. */
export const USER_COMMANDS: readonly BotCommand[] = Object.freeze([
  { command: 'start', description: 'Empezar (o retomar) la historia' },
  { command: 'menu', description: 'El menú principal' },
  { command: 'ayuda', description: 'Qué puedes hacer aquí' },
  { command: 'historia', description: 'Seguir la historia donde la dejaste' },
  { command: 'mochila', description: 'Tus pistas y objetos' },
  { command: 'saldo', description: 'Tus besitos' },
  { command: 'regalo', description: 'Tu regalo diario de besitos (también /daily)' },
  { command: 'tienda', description: 'La tienda de Diana' },
  { command: 'misiones', description: 'Tus misiones y cuánto te falta' },
  { command: 'logros', description: 'Tus logros' },
  { command: 'historial', description: 'Tus últimos movimientos de besitos' },
  { command: 'perfil', description: 'Tu perfil: rol, besitos, racha y VIP' },
]);

/** True for roles with staff commands (CONTENT_CREATOR, MODERATOR, ADMIN, OWNER): they get a menu of their own. */
export function isStaff(role: string): boolean {
  return staffCommandMenu(role).length > 0;
}

/**
 * The command menu `role` sees: the user commands, then the staff commands the role may run
 * (the admin module owns those, with their permissions: `staffCommandMenu`).
 */
export function menuCommandsFor(role: string): BotCommand[] {
  return [...USER_COMMANDS, ...staffCommandMenu(role)].map(({ command, description }) => ({ command, description }));
}

/** A command any user may start from a button (the catalog's user commands). */
export function isUserCommand(command: string): boolean {
  return USER_COMMANDS.some((c) => c.command === command);
}

/** The roles that hold a staff command, lowest first (for the start-up query of staff). */
export const STAFF_ROLES: readonly UserRole[] = Object.freeze(
  [...USER_ROLES].reverse().filter((role) => isStaff(role)),
);
