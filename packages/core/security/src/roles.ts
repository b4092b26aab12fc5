import { USER_ROLES, type UserRole } from '@diana/db';
import { DianaError } from '@diana/utils';
import { SECURITY_ERROR_CODES } from './errors.js';

/** Each role's level: a role can do what any role at or below its level can. */
export const ROLE_LEVELS: Readonly<Record<UserRole, number>> = Object.freeze({
  OWNER: 1_000,
  ADMIN: 800,
  MODERATOR: 600,
  CONTENT_CREATOR: 400,
  VIP: 200,
  FREE: 100,
  BANNED: 0,
});

/** The Spanish name each role is shown with, to users and staff alike. */
export const ROLE_LABELS: Readonly<Record<UserRole, string>> = Object.freeze({
  OWNER: 'propietario',
  ADMIN: 'administrador',
  MODERATOR: 'moderador',
  CONTENT_CREATOR: 'creador de contenido',
  VIP: 'VIP',
  FREE: 'gratuito',
  BANNED: 'baneado',
});

/** Named permissions and the lowest role holding each. */
export const PERMISSIONS = Object.freeze({
  publish_content: 'CONTENT_CREATOR',
  view_stats: 'MODERATOR',
  ban_users: 'MODERATOR',
  assign_roles: 'ADMIN',
  manage_subscriptions: 'ADMIN',
  grant_besitos: 'ADMIN',
  edit_config: 'ADMIN',
  replay_dlq: 'ADMIN',
} as const satisfies Record<string, UserRole>);

/** A permission's name. */
export type Permission = keyof typeof PERMISSIONS;

/** The level of `role`; an unknown role is treated as BANNED (0). */
export function getRoleLevel(role: string): number {
  return (ROLE_LEVELS as Record<string, number>)[role] ?? 0;
}

/** True when `role` is `minimum` or higher. */
export function atLeast(role: string, minimum: UserRole): boolean {
  return getRoleLevel(role) >= ROLE_LEVELS[minimum];
}

/** True when `role` holds `permission` (unknown permissions are held by nobody). */
export function can(role: string, permission: Permission): boolean {
  const minimum = (PERMISSIONS as Record<string, UserRole>)[permission];
  return minimum !== undefined && atLeast(role, minimum);
}

/** True when `actor` may give `target` the role `to`: both strictly below the actor's own. */
export function canAssignRole(actor: string, target: string, to: UserRole): boolean {
  const level = getRoleLevel(actor);
  return atLeast(actor, 'ADMIN') && getRoleLevel(target) < level && ROLE_LEVELS[to] < level;
}

/** Every role, highest first. */
export { USER_ROLES };

/** Throws `E_SECURITY_FORBIDDEN` unless `role` holds `permission` (for services outside grammY handlers). */
export function assertCan(role: string, permission: Permission): void {
  if (!can(role, permission))
    throw new DianaError(SECURITY_ERROR_CODES.FORBIDDEN, `role ${role} may not ${permission}`, {
      context: { role, permission },
    });
}
