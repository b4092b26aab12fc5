// The UserRepository tests, run on the local PostgreSQL and on embedded PGlite.
import { isDianaError, newId, type ValidationError } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import type { Database } from '../src/postgres.js';
import { createUserRepository } from '../src/users.js';

const INJECTIONS = [
  "'); drop table users;--",
  "Robert'); DROP TABLE users; --",
  '" OR 1=1 --',
  '$1; select pg_sleep(10)',
];

export function describeUserRepository(label: string, getDb: () => Database): void {
  describe(`UserRepository (${label})`, () => {
    it('creates on first sight, then refreshes names without creating again', async () => {
      const users = createUserRepository(getDb());
      const first = await users.upsertFromTelegram({
        id: 1001,
        first_name: 'Ana',
        username: 'ana',
        language_code: 'es',
      });
      expect(first.created).toBe(true);
      expect(first.user).toMatchObject({ telegram_id: 1001, first_name: 'Ana', role: 'FREE', status: 'active' });
      // created seen: no separate touchLastSeen for a new user
      expect(first.user.last_seen_at).toBeInstanceOf(Date);
      const again = await users.upsertFromTelegram({ id: 1001, first_name: 'Ana María', username: 'ana' });
      expect(again.created).toBe(false);
      expect(again.user.id).toBe(first.user.id);
      expect(again.user.first_name).toBe('Ana María');
      expect(again.user.language_code).toBeNull();
      expect(await users.getByTelegramId(1001)).toEqual(again.user);
      expect(await users.getById(first.user.id)).toEqual(again.user);
      expect(await users.getByTelegramId(999_999)).toBeUndefined();
    });

    it('sets role, status and last seen', async () => {
      const users = createUserRepository(getDb());
      const { user } = await users.upsertFromTelegram({ id: 1002, first_name: 'Bea' });
      expect((await users.setRole(user.id, 'VIP')).role).toBe('VIP');
      expect((await users.setStatus(user.id, 'blocked')).status).toBe('blocked');
      const seen = new Date('2026-11-26T10:00:00Z');
      await users.touchLastSeen(user.id, seen);
      expect((await users.getById(user.id))?.last_seen_at?.toISOString()).toBe(seen.toISOString());
      expect((await users.countByRole()).VIP).toBeGreaterThanOrEqual(1);
      const missing = await users.setRole(newId(), 'VIP').catch((e: unknown) => e);
      expect(isDianaError(missing, 'E_DB_USER_NOT_FOUND')).toBe(true);
    });

    it('stores injection attempts through every method as plain data', async () => {
      const db = getDb();
      const users = createUserRepository(db);
      for (const [index, evil] of INJECTIONS.entries()) {
        const { user } = await users.upsertFromTelegram({
          id: 2000 + index,
          first_name: evil,
          last_name: evil,
          username: evil,
          language_code: evil.slice(0, 16),
        });
        expect(user).toMatchObject({ first_name: evil, last_name: evil, username: evil });
        expect(await users.getByTelegramId(2000 + index)).toMatchObject({ first_name: evil });
        const roleError = await users.setRole(user.id, evil as 'VIP').catch((e: unknown) => e);
        const statusError = await users.setStatus(user.id, evil as 'active').catch((e: unknown) => e);
        const idError = await users.getById(evil).catch((e: unknown) => e);
        for (const error of [roleError, statusError, idError])
          expect(isDianaError(error, 'E_DB_USER_INVALID')).toBe(true);
      }
      const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from users where telegram_id >= 2000`;
      expect(row?.n).toBe(INJECTIONS.length);
    });

    it('refuses invalid writes with every issue, writing nothing', async () => {
      const db = getDb();
      const users = createUserRepository(db);
      const [before] = await db.sql<{ n: number }[]>`select count(*)::int as n from users`;
      const error = (await users
        .upsertFromTelegram({ id: -5, first_name: '', username: 'x'.repeat(65) })
        .catch((e: unknown) => e)) as ValidationError<'E_DB_USER_INVALID'>;
      expect(error.code).toBe('E_DB_USER_INVALID');
      expect(error.issues.map((issue) => issue.path).sort()).toEqual(['first_name', 'id', 'username']);
      const nul = await users.upsertFromTelegram({ id: 3001, first_name: 'a\u0000b' }).catch((e: unknown) => e);
      expect(isDianaError(nul, 'E_DB_USER_INVALID')).toBe(true);
      const [after] = await db.sql<{ n: number }[]>`select count(*)::int as n from users`;
      expect(after?.n).toBe(before?.n);
    });
  });
}
