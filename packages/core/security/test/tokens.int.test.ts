import { createPostgres, DB_MIGRATIONS, migrate } from '@diana/db';
import { createBarrier, useTestDatabase } from '@diana/test-services';
import { createManualClock, isDianaError } from '@diana/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECURITY_MIGRATIONS } from '../src/migrations.js';
import { createTokenService } from '../src/tokens.js';

const testDb = await useTestDatabase('security-tokens');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 20 });
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, SECURITY_MIGRATIONS]);
});
afterAll(() => db.close());
const config = { token_pepper: 'p'.repeat(40) };
const codeOf = async (work: Promise<unknown>) => {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isDianaError(error) ? error.code : error;
};

describe('single-use tokens', () => {
  it('stores only a keyed hash; the token is 192 random bits, URL-safe', async () => {
    const tokens = createTokenService(config, { db });
    const { token, record } = await tokens.issue({ purpose: 'vip', ttl_ms: 60_000, data: { tariff: 't1' } });
    expect(token).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(record.data).toEqual({ tariff: 't1' });
    const rows =
      await db.sql`select token_hash::text as h, data::text as d from security_tokens where id = ${record.id}`;
    expect(JSON.stringify(rows)).not.toContain(token);
  });

  it('50 concurrent redeems of one token → exactly one success, the rest E_SECURITY_TOKEN_USED', async () => {
    const tokens = createTokenService(config, { db });
    const { token } = await tokens.issue({ purpose: 'vip', ttl_ms: 60_000 });
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const redeems = Array.from({ length: 50 }, async (_, i) => {
      await gate;
      return codeOf(tokens.redeem(token, 'vip', { by: `user-${i}` }));
    });
    open();
    const codes = await Promise.all(redeems);
    expect(codes.filter((c) => c === undefined)).toHaveLength(1);
    expect(codes.filter((c) => c === 'E_SECURITY_TOKEN_USED')).toHaveLength(49);
    const [row] = await db.sql<
      { used_by: string }[]
    >`select used_by from security_tokens where used_at is not null and purpose = 'vip' order by used_at desc limit 1`;
    expect(row?.used_by).toMatch(/^user-\d+$/);
  });

  it('refuses expired, unknown, malformed and other-purpose tokens with distinct codes', async () => {
    const clock = createManualClock(Date.parse('2026-11-26T10:00:00Z'));
    const tokens = createTokenService(config, { db, clock });
    const { token } = await tokens.issue({ purpose: 'vip', ttl_ms: 60_000 });
    expect(await codeOf(tokens.redeem(token, 'invite'))).toBe('E_SECURITY_TOKEN_UNKNOWN');
    clock.advance(60_001);
    expect(await codeOf(tokens.redeem(token, 'vip'))).toBe('E_SECURITY_TOKEN_EXPIRED');
    expect(await codeOf(tokens.redeem('A'.repeat(32), 'vip'))).toBe('E_SECURITY_TOKEN_UNKNOWN');
    expect(await codeOf(tokens.redeem("x' or '1'='1", 'vip'))).toBe('E_SECURITY_TOKEN_MALFORMED');
    expect(await codeOf(tokens.redeem('', 'vip'))).toBe('E_SECURITY_TOKEN_MALFORMED');
    expect(await codeOf(tokens.issue({ purpose: 'Bad Purpose', ttl_ms: 1_000 }))).toBe('E_SECURITY_CONFIG');
    expect(() => createTokenService({}, { db })).toThrow(/token_pepper/);
  });

  it('refuses at the call a ttl_ms or data PostgreSQL cannot store, with E_SECURITY_CONFIG, writing nothing', async () => {
    const tokens = createTokenService(config, { db });
    const count = async () =>
      (await db.sql<{ n: number }[]>`select count(*)::int as n from security_tokens where purpose = 'edge'`)[0]?.n;
    const year = 365 * 86_400_000;
    // before: E_DB_QUERY (an expiry past year 9999, or no date), a TypeError (a BigInt)
    for (const ttl_ms of [Number.MAX_SAFE_INTEGER, 1e15, 101 * year, 0, 1.5])
      expect(await codeOf(tokens.issue({ purpose: 'edge', ttl_ms })), String(ttl_ms)).toBe('E_SECURITY_CONFIG');
    for (const data of [{ note: 'a\u0000' }, { 'k\u0000': 1 }, { note: ['\ud800'] }, { n: 10n }])
      expect(await codeOf(tokens.issue({ purpose: 'edge', ttl_ms: 60_000, data })), String(Object.keys(data))).toBe(
        'E_SECURITY_CONFIG',
      );
    expect(await count()).toBe(0);
    const { record } = await tokens.issue({ purpose: 'edge', ttl_ms: 99 * year, data: { note: 'hola \u{1F44B}' } });
    expect(record.data).toEqual({ note: 'hola \u{1F44B}' });
    expect(await count()).toBe(1);
  });

  it("a redeem inside the caller's transaction is undone by its rollback", async () => {
    const tokens = createTokenService(config, { db });
    const { token } = await tokens.issue({ purpose: 'vip', ttl_ms: 60_000 });
    await expect(
      db.transaction(async () => {
        await tokens.redeem(token, 'vip');
        throw new Error('starting the subscription failed');
      }),
    ).rejects.toThrow('starting the subscription failed');
    expect((await tokens.redeem(token, 'vip')).used_at).toBeInstanceOf(Date);
  });

  it('a rotated pepper: tokens issued under the one before it still redeem and revoke; new ones use the new', async () => {
    const old = createTokenService({ token_pepper: 'o'.repeat(40) }, { db });
    const rotated = createTokenService({ token_pepper: 'n'.repeat(40), token_pepper_previous: 'o'.repeat(40) }, { db });
    const fresh = createTokenService({ token_pepper: 'n'.repeat(40) }, { db });
    const [first, second] = await Promise.all([
      old.issue({ purpose: 'vip', ttl_ms: 60_000 }),
      old.issue({ purpose: 'vip', ttl_ms: 60_000 }),
    ]);
    // without the previous pepper a rotation made every token issued unknown
    expect(await codeOf(fresh.redeem(first.token, 'vip'))).toBe('E_SECURITY_TOKEN_UNKNOWN');
    expect((await rotated.redeem(first.token, 'vip')).id).toBe(first.record.id);
    expect(await codeOf(rotated.redeem(first.token, 'vip'))).toBe('E_SECURITY_TOKEN_USED');
    expect((await rotated.revoke({ token: second.token }, 'vip')).id).toBe(second.record.id);
    const made = await rotated.issue({ purpose: 'vip', ttl_ms: 60_000 });
    expect(await codeOf(old.redeem(made.token, 'vip'))).toBe('E_SECURITY_TOKEN_UNKNOWN');
    expect((await fresh.redeem(made.token, 'vip')).id).toBe(made.record.id);
    expect(await codeOf(rotated.redeem('A'.repeat(32), 'vip'))).toBe('E_SECURITY_TOKEN_UNKNOWN');
  });

  it('purges tokens expired, used or revoked before a date', async () => {
    const clock = createManualClock(Date.parse('2020-01-01T00:00:00Z'));
    const tokens = createTokenService(config, { db, clock });
    await tokens.issue({ purpose: 'old', ttl_ms: 1_000 });
    const revoked = await tokens.issue({ purpose: 'old', ttl_ms: 10 * 365 * 86_400_000 });
    await tokens.revoke({ id: revoked.record.id }, 'old');
    await tokens.issue({ purpose: 'old', ttl_ms: 10 * 365 * 86_400_000 }); // kept: neither
    expect(await tokens.purge(new Date('2021-01-01T00:00:00Z'))).toBe(2);
  });

  it('revokes an unredeemed token by the token or its id; a redeemed, expired or revoked one is refused', async () => {
    const clock = createManualClock(Date.parse('2026-12-06T10:00:00Z'));
    const tokens = createTokenService(config, { db, clock });
    const a = await tokens.issue({ purpose: 'vip', ttl_ms: 60_000, data: { tariff: 'a' } });
    clock.advance(1_000);
    const revoked = await tokens.revoke({ token: a.token }, 'vip');
    expect(revoked.data).toEqual({ tariff: 'a' });
    expect(revoked.revoked_at).toEqual(new Date(clock.now()));
    expect(revoked.expires_at).toEqual(a.record.expires_at); // the expiry stays what it was
    expect(await codeOf(tokens.redeem(a.token, 'vip'))).toBe('E_SECURITY_TOKEN_REVOKED');
    expect(await codeOf(tokens.revoke({ token: a.token }, 'vip'))).toBe('E_SECURITY_TOKEN_REVOKED');
    const b = await tokens.issue({ purpose: 'vip', ttl_ms: 60_000 });
    expect(await codeOf(tokens.revoke({ id: b.record.id }, 'invite'))).toBe('E_SECURITY_TOKEN_UNKNOWN');
    expect((await tokens.revoke({ id: b.record.id }, 'vip')).id).toBe(b.record.id);
    expect(await codeOf(tokens.redeem(b.token, 'vip'))).toBe('E_SECURITY_TOKEN_REVOKED');
    // revoked, then past its expiry: still revoked (the more telling of the two)
    clock.advance(60_000);
    expect(await codeOf(tokens.redeem(b.token, 'vip'))).toBe('E_SECURITY_TOKEN_REVOKED');
    const d = await tokens.issue({ purpose: 'vip', ttl_ms: 1_000 });
    clock.advance(1_001);
    expect(await codeOf(tokens.revoke({ token: d.token }, 'vip'))).toBe('E_SECURITY_TOKEN_EXPIRED');
    expect(await codeOf(tokens.redeem(d.token, 'vip'))).toBe('E_SECURITY_TOKEN_EXPIRED');
    const c = await tokens.issue({ purpose: 'vip', ttl_ms: 60_000 });
    await tokens.redeem(c.token, 'vip');
    expect(await codeOf(tokens.revoke({ token: c.token }, 'vip'))).toBe('E_SECURITY_TOKEN_USED');
    expect(await codeOf(tokens.revoke({ id: 'nope' }, 'vip'))).toBe('E_SECURITY_TOKEN_MALFORMED');
    expect(await codeOf(tokens.revoke({ token: 'x' }, 'vip'))).toBe('E_SECURITY_TOKEN_MALFORMED');
  });

  it('20 redeems and 20 revokes of one token at once → exactly one of them wins, each other told why', async () => {
    const tokens = createTokenService(config, { db });
    const { token, record } = await tokens.issue({ purpose: 'vip', ttl_ms: 60_000 });
    const barrier = createBarrier(40);
    const calls = Array.from({ length: 40 }, async (_, i) => {
      await barrier.wait();
      return codeOf(i % 2 === 0 ? tokens.redeem(token, 'vip', { by: `u${i}` }) : tokens.revoke({ token }, 'vip'));
    });
    const codes = await Promise.all(calls);
    const won = codes.filter((c) => c === undefined);
    expect(won).toHaveLength(1);
    const [row] = await db.sql<{ used_at: Date | null; revoked_at: Date | null }[]>`
      select used_at, revoked_at from security_tokens where id = ${record.id}`;
    // never both: the winner's mark is the only one, and every loser names it
    expect(Boolean(row?.used_at) !== Boolean(row?.revoked_at)).toBe(true);
    const lost = row?.used_at ? 'E_SECURITY_TOKEN_USED' : 'E_SECURITY_TOKEN_REVOKED';
    expect(codes.filter((c) => c !== undefined)).toEqual(Array(39).fill(lost));
  });
});
