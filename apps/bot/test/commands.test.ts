import { STAFF_COMMANDS, staffCommandMenu } from '@diana/admin';
import { describe, expect, it } from 'vitest';
import { isStaff, isUserCommand, menuCommandsFor, STAFF_ROLES, USER_COMMANDS } from '../src/commands.js';

const names = (role: string) => menuCommandsFor(role).map((c) => c.command);

describe('the command catalog', () => {
  it('fits Telegram: names of a-z 0-9 _ (1–32), descriptions of 3–256 characters, no command twice', () => {
    const all = [...USER_COMMANDS, ...staffCommandMenu('OWNER')];
    for (const c of all) {
      expect(c.command).toMatch(/^[a-z0-9_]{1,32}$/);
      expect(c.description.length).toBeGreaterThanOrEqual(3);
      expect(c.description.length).toBeLessThanOrEqual(256);
    }
    expect(new Set(all.map((c) => c.command)).size).toBe(all.length);
    expect(all.length).toBeLessThanOrEqual(100);
  });

  it('lists the user commands for everyone and the staff commands each role may run', () => {
    const user = USER_COMMANDS.map((c) => c.command);
    expect(user).toEqual([
      'start',
      'menu',
      'ayuda',
      'historia',
      'mochila',
      'saldo',
      'regalo',
      'tienda',
      'misiones',
      'logros',
      'historial',
      'perfil',
    ]);
    for (const role of ['FREE', 'VIP', 'BANNED']) expect(names(role)).toEqual(user);
    expect(names('CONTENT_CREATOR').slice(user.length)).toEqual(['admin', 'programar', 'programados', 'cancelar_post']);
    const moderator = names('MODERATOR').slice(user.length);
    expect(moderator).toEqual(expect.arrayContaining(['admin', 'usuario', 'ban', 'unban', 'auditoria', 'stats']));
    expect(moderator).not.toEqual(expect.arrayContaining(['rol']));
    expect(names('ADMIN').slice(user.length)).toEqual(['admin', ...STAFF_COMMANDS.map((c) => c.command)]);
    expect(names('OWNER')).toEqual(names('ADMIN'));
  });

  it('tells staff apart and which commands a button may run', () => {
    expect(STAFF_ROLES).toEqual(['CONTENT_CREATOR', 'MODERATOR', 'ADMIN', 'OWNER']);
    expect(isStaff('VIP')).toBe(false);
    expect(isStaff('CONTENT_CREATOR')).toBe(true);
    expect(isUserCommand('saldo')).toBe(true);
    expect(isUserCommand('config')).toBe(false);
  });
});
