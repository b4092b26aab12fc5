// PostgreSQL (or PgBouncer) down and back: connects are refused meanwhile. Each refused connect
// must give its pool slot back. Before the fix, the socket factory threw on a refusal, the
// driver dropped the error, and the slot stayed "connecting" for good: after pool_max refusals
// the pool answered nothing until the process restarted (a stranger's PgBouncer restart).
import { randomBytes } from 'node:crypto';
import { until as pollUntil, startTcpProxy, useTestDatabase } from '@diana/test-services';
import { isDianaError } from '@diana/utils';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgres, type Database } from '../src/postgres.js';

const testDb = await useTestDatabase('db-refused');
const pools: Database[] = [];
afterAll(async () => {
  await Promise.all(pools.map((pool) => pool.close({ timeout_ms: 1_000 })));
});

const until = (check: () => Promise<boolean> | boolean, ms: number) => pollUntil(check, ms, 20);

describe('a server that refuses connections for a while', () => {
  it('costs the pool nothing: once it listens again every slot opens and serves', async () => {
    // the server's own port, unless the tests go through PgBouncer: the proxy is then in front of it
    const target = new URL(testDb.url);
    await using proxy = await startTcpProxy(Number(target.port || 5432));
    target.hostname = '127.0.0.1';
    target.port = String(proxy.port);
    const POOL = 3;
    const db = createPostgres({
      url: target.toString(),
      application_name: `refused-${randomBytes(3).toString('hex')}`,
      pool_max: POOL,
      connect_timeout_ms: 2_000,
    });
    pools.push(db);
    const sleepy = () => db.sql`select pg_sleep(0.3)`;
    await Promise.all(Array.from({ length: POOL }, sleepy));
    expect(db.stats().open).toBe(POOL);

    await proxy.down();
    expect(proxy.downs).toBe(1);
    // more refused connects than the pool has slots (each query opens one and is refused)
    const refused: unknown[] = [];
    for (let i = 0; i < POOL * 2; i++) await db.sql`select 1`.catch((error: unknown) => refused.push(error));
    expect(refused).toHaveLength(POOL * 2);
    for (const error of refused) expect(isDianaError(error, 'E_DB_UNAVAILABLE')).toBe(true);
    // the fault happened: connects were refused (the first query may meet its connection closing)
    const messages = refused.map((error) => String((error as Error).message));
    expect(messages.filter((m) => m.includes('ECONNREFUSED')).length).toBeGreaterThanOrEqual(POOL);
    await proxy.up();

    // a statement answers again (before the fix: "no answer", every slot lost)...
    expect(
      await until(
        () =>
          db.sql`select 1 as one`.then(
            (rows) => rows[0]?.one === 1,
            () => false,
          ),
        10_000,
      ),
    ).toBe(true);
    // ...and the whole pool: its slots run at once again (contention asserted: all busy
    // together), once each slot's reconnect backoff (grown while refused, at most seconds) passed
    const allAtOnce = async () => {
      let peak = 0;
      const watching = setInterval(() => {
        peak = Math.max(peak, db.stats().busy);
      }, 5);
      try {
        await Promise.all(Array.from({ length: POOL }, sleepy));
      } finally {
        clearInterval(watching);
      }
      return peak === POOL;
    };
    expect(await until(allAtOnce, 30_000)).toBe(true);
    expect(db.stats().open).toBe(POOL);
  }, 60_000);
});
