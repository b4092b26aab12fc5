import { describe, expect, it } from 'vitest';
import { assertCan, atLeast, can, canAssignRole, getRoleLevel, PERMISSIONS, ROLE_LEVELS } from '../src/roles.js';

describe('roles', () => {
  it('orders OWNER 1000 > ADMIN 800 > MODERATOR 600 > CONTENT_CREATOR 400 > VIP 200 > FREE 100 > BANNED 0', () => {
    expect(Object.entries(ROLE_LEVELS)).toEqual([
      ['OWNER', 1_000],
      ['ADMIN', 800],
      ['MODERATOR', 600],
      ['CONTENT_CREATOR', 400],
      ['VIP', 200],
      ['FREE', 100],
      ['BANNED', 0],
    ]);
    expect(getRoleLevel('NOT_A_ROLE')).toBe(0);
    expect(atLeast('VIP', 'FREE')).toBe(true);
    expect(atLeast('FREE', 'VIP')).toBe(false);
  });

  it('grants each permission from its role up, never to FREE or BANNED', () => {
    for (const permission of Object.keys(PERMISSIONS) as Array<keyof typeof PERMISSIONS>) {
      expect(can('OWNER', permission)).toBe(true);
      expect(can('FREE', permission)).toBe(false);
      expect(can('BANNED', permission)).toBe(false);
    }
    expect(can('MODERATOR', 'ban_users')).toBe(true);
    expect(can('MODERATOR', 'edit_config')).toBe(false);
    expect(can('CONTENT_CREATOR', 'publish_content')).toBe(true);
    expect(can('ADMIN', 'nope' as never)).toBe(false);
    expect(() => assertCan('ADMIN', 'edit_config')).not.toThrow();
    expect(() => assertCan('VIP', 'edit_config')).toThrow(expect.objectContaining({ code: 'E_SECURITY_FORBIDDEN' }));
  });

  it('lets nobody raise anyone to or above their own role', () => {
    expect(canAssignRole('OWNER', 'FREE', 'ADMIN')).toBe(true);
    expect(canAssignRole('ADMIN', 'FREE', 'MODERATOR')).toBe(true);
    expect(canAssignRole('ADMIN', 'FREE', 'ADMIN')).toBe(false);
    expect(canAssignRole('ADMIN', 'ADMIN', 'FREE')).toBe(false);
    expect(canAssignRole('MODERATOR', 'FREE', 'VIP')).toBe(false);
  });
});
