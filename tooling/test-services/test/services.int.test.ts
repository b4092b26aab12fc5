import postgres from '@diana/postgres';
import { Redis } from 'ioredis';
import { describe, expect, it, vi } from 'vitest';
import { createBarrier } from '../src/barrier.js';
import { getPostgresUrl } from '../src/discover.js';
import { createTestDatabase, useTestDatabase } from '../src/postgres.js';
import { useTestRedis } from '../src/redis.js';
import { advanceRedisTtls } from '../src/redis-clock.js';

describe('test databases', () => {
  it('gives each caller its own database and drops it', async () => {
    const a = await createTestDatabase('services a');
    const b = await useTestDatabase('services b');
    expect(a.name).not.toBe(b.name);
    expect(a.name).toMatch(/^diana_t_[0-9a-z]+_[0-9a-z]+_services_a_[0-9a-f]{6}$/);
    const sql = postgres(a.direct_url, { max: 1, onnotice: () => {} });
    const [row] = await sql<{ db: string }[]>`select current_database() as db`;
    expect(row?.db).toBe(a.name);
    await sql.end();
    await a.drop();
    const probe = postgres(a.direct_url, { max: 1, connect_timeout: 2, onnotice: () => {} });
    await expect(probe`select 1`).rejects.toThrow(/does not exist/);
    await probe.end();
  });
});

describe('a database or key prefix asked for inside a test', () => {
  // made in the first test, looked for in the second: gone once the first test has ended
  let made: { database: string; prefix: string; url: string } | undefined;
  it('is made inside the test', async () => {
    const db = await useTestDatabase('services inside');
    const redis = await useTestRedis('services-inside');
    const client = new Redis(redis.url);
    await client.set(`${redis.prefix}k`, '1');
    client.disconnect();
    made = { database: db.name, prefix: redis.prefix, url: redis.url };
  });
  it('is gone when that test has ended, not when the file has', async () => {
    if (!made) throw new Error('the first test did not run');
    const sql = postgres(await getPostgresUrl(), { max: 1, onnotice: () => {} });
    const rows = await sql`select 1 from pg_database where datname = ${made.database}`;
    await sql.end();
    expect(rows).toHaveLength(0);
    const client = new Redis(made.url);
    expect(await client.exists(`${made.prefix}k`)).toBe(0);
    client.disconnect();
  });
});

describe('test redis prefixes', () => {
  it('cleans up only its own keys', async () => {
    const mine = await useTestRedis('services');
    const client = new Redis(mine.url);
    const other = `t:other:${Date.now()}:key`;
    try {
      await client.mset(`${mine.prefix}a`, '1', `${mine.prefix}b`, '2', other, '3');
      expect(await mine.cleanup()).toBe(2);
      expect(await client.exists(`${mine.prefix}a`, `${mine.prefix}b`)).toBe(0);
      expect(await client.get(other)).toBe('3');
    } finally {
      await client.del(other);
      client.disconnect();
    }
  });
});

describe('advanceRedisTtls', () => {
  it("shortens the TTLs under its prefix, deletes what runs out, and leaves keys without one and others' keys alone", async () => {
    const mine = await useTestRedis('services-clock');
    const client = new Redis(mine.url);
    const other = `${mine.prefix.slice(0, -1)}-other:k`; // shares the text before the last ':'
    try {
      await client.set(`${mine.prefix}long`, '1', 'PX', 60_000);
      await client.set(`${mine.prefix}short`, '1', 'PX', 50_000);
      await client.set(`${mine.prefix}forever`, '1');
      await client.set(other, '1', 'PX', 60_000);
      expect(await advanceRedisTtls(client, mine.prefix, 40_000)).toEqual({ shortened: 2, expired: 0 });
      const left = await client.pttl(`${mine.prefix}long`);
      expect(left).toBeLessThanOrEqual(20_000);
      expect(left).toBeGreaterThan(15_000);
      expect(await advanceRedisTtls(client, mine.prefix, 10_000)).toEqual({ shortened: 1, expired: 1 });
      expect(await client.exists(`${mine.prefix}short`)).toBe(0);
      expect(await client.pttl(`${mine.prefix}forever`)).toBe(-1);
      expect(await client.pttl(other)).toBeGreaterThan(50_000);
      await expect(advanceRedisTtls(client, mine.prefix, -1)).rejects.toThrow(/whole number/);
    } finally {
      await client.del(other);
      client.disconnect();
    }
  });
});

describe('discovery', () => {
  it('names what to start when an explicit URL does not answer', async () => {
    vi.resetModules();
    vi.stubEnv('DIANA_TEST_REDIS_URL', 'redis://127.0.0.1:1');
    try {
      const fresh = await import('../src/discover.js');
      await expect(fresh.getRedisUrl()).rejects.toThrow(
        /DIANA_TEST_REDIS_URL=redis:\/\/127\.0\.0\.1:1 does not answer/,
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe('barrier', () => {
  it('releases all parties together', async () => {
    const barrier = createBarrier(3);
    const order: string[] = [];
    const parties = ['a', 'b', 'c'].map(async (name) => {
      order.push(`arrive ${name}`);
      await barrier.wait();
      order.push(`go ${name}`);
    });
    await Promise.all(parties);
    expect(order.slice(0, 3).every((step) => step.startsWith('arrive'))).toBe(true);
    expect(barrier.arrived).toBe(3);
  });
});
