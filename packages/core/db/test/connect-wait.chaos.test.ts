// PostgreSQL down (a restart, a failover, PgBouncer restarting): with `connect_wait_ms`, statements
// and transactions that find no connection to open wait for the server instead of failing at
// once — nothing was sent, so trying again is safe — and a transaction's function runs once.
import { randomBytes } from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import vendored from '@diana/postgres';
import { startTcpProxy, type TcpProxy, useTestDatabase } from '@diana/test-services';
import { isDianaError } from '@diana/utils';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { instrumentSql, pauseForServer, type QueryTracker, withoutWait } from '../src/instrument.js';
import { createDbMetrics } from '../src/metrics.js';
import { createPostgres, type Database } from '../src/postgres.js';

const testDb = await useTestDatabase('db-connect-wait');
const pools: Database[] = [];
// every socket the pools open (postgres.ts's socket factory calls node:net's connect): to count
// connects, and to fail an open connection with the error the kernel reports for it
const sockets: net.Socket[] = [];
const realConnect = net.connect;
(net as { connect: unknown }).connect = (...args: unknown[]) => {
  const socket = (realConnect as (...a: unknown[]) => net.Socket)(...args);
  sockets.push(socket);
  return socket;
};
syncBuiltinESMExports();
afterAll(async () => {
  (net as { connect: unknown }).connect = realConnect;
  syncBuiltinESMExports();
  await Promise.all(pools.map((pool) => pool.close({ timeout_ms: 1_000 })));
});

/** A pool reaching the test database through `proxy`. */
const poolThrough = (proxy: TcpProxy | undefined, connect_wait_ms: number, pool_max = 4) => {
  const target = new URL(testDb.url);
  if (proxy) {
    target.hostname = '127.0.0.1';
    target.port = String(proxy.port);
  }
  const db = createPostgres({
    url: target.toString(),
    application_name: `connect-wait-${randomBytes(3).toString('hex')}`,
    pool_max,
    connect_timeout_ms: 2_000,
    connect_wait_ms,
  });
  pools.push(db);
  return db;
};

/** Settles the promise into what it did, so a test can look while it is still pending. */
const watch = <T>(promise: Promise<T>) => {
  const state: { settled: boolean; value?: T; error?: unknown } = { settled: false };
  promise.then(
    (value) => Object.assign(state, { settled: true, value }),
    (error: unknown) => Object.assign(state, { settled: true, error }),
  );
  return state;
};

/** Polls until the pools have tried `n` connects since `before` (each refused while the proxy is down). */
const refusedAtLeast = (before: number, n: number) =>
  vi.waitFor(() => expect(sockets.length - before).toBeGreaterThanOrEqual(n), { timeout: 5_000, interval: 10 });

/** Polls until every promise watched has settled (a deadline, not a sleep). */
const allSettled = (states: ReadonlyArray<{ settled: boolean }>, timeout: number) =>
  vi.waitFor(() => expect(states.filter((s) => !s.settled)).toEqual([]), { timeout, interval: 20 });

describe('connect_wait_ms: the server down for a while', () => {
  it('statements and transactions that found it down run once it listens again; each function once', async () => {
    const target = Number(new URL(testDb.url).port || 5432);
    await using proxy = await startTcpProxy(target);
    const db = poolThrough(proxy, 8_000);
    await db.sql`create table waited (id int primary key)`;
    await db.close({ timeout_ms: 1_000 }); // the next statements open new connections
    const again = poolThrough(proxy, 8_000);

    await proxy.down();
    expect(proxy.downs).toBe(1);
    // the fault: a pool that does not wait is refused now
    const refused = await poolThrough(proxy, 0).sql`select 1`.then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(String((refused as Error).message)).toContain('ECONNREFUSED');

    let bodies = 0;
    const before = sockets.length;
    const reads = Array.from({ length: 3 }, (_, i) => watch(again.sql<{ n: number }[]>`select ${i}::int as n`));
    const writes = Array.from({ length: 2 }, (_, i) =>
      watch(
        again.transaction(async (tx) => {
          bodies++;
          await tx`insert into waited (id) values (${i})`;
          return i;
        }),
      ),
    );
    // still waiting after being refused again and again (connects counted, not a sleep)
    await refusedAtLeast(before, 8);
    expect([...reads, ...writes].filter((s) => s.settled)).toEqual([]);
    expect(bodies).toBe(0);
    // the probe says so at the next refused connect (the driver opens a connection again 0.5–1 s
    // after the last refusal at most), long before its own timeout and the wait's end
    const pinged = Date.now();
    await expect(again.ping({ timeout_ms: 5_000 })).rejects.toSatisfy((e) => isDianaError(e, 'E_DB_UNAVAILABLE'));
    expect(Date.now() - pinged).toBeLessThan(4_000);
    // and so does a statement marked withoutWait (a gauge's read), beside the ones that wait
    const reported = Date.now();
    await expect(withoutWait(again.sql`select count(*) from waited`)).rejects.toSatisfy((e) =>
      isDianaError(e, 'E_DB_UNAVAILABLE'),
    );
    expect(Date.now() - reported).toBeLessThan(4_000);
    expect([...reads, ...writes].filter((s) => s.settled)).toEqual([]);

    await proxy.up();
    await allSettled([...reads, ...writes], 6_000);
    expect(reads.map((s) => s.error)).toEqual([undefined, undefined, undefined]);
    expect(reads.map((s) => s.value?.[0]?.n)).toEqual([0, 1, 2]);
    expect(writes.map((s) => s.error)).toEqual([undefined, undefined]);
    expect(writes.map((s) => s.value)).toEqual([0, 1]);
    expect(bodies).toBe(2);
    const rows = await again.sql<{ id: number }[]>`select id from waited order by id`;
    expect(rows.map((r) => r.id)).toEqual([0, 1]);
    await again.sql`drop table waited`;
  });

  it('past the wait, the statement fails as before and the function never ran', async () => {
    const target = Number(new URL(testDb.url).port || 5432);
    await using proxy = await startTcpProxy(target);
    const db = poolThrough(proxy, 600);
    await proxy.down();
    const started = Date.now();
    const error = await db.sql`select 1`.then(
      () => undefined,
      (e: unknown) => e,
    );
    const waited = Date.now() - started;
    expect(isDianaError(error, 'E_DB_UNAVAILABLE')).toBe(true);
    expect(String((error as Error).message)).toContain('ECONNREFUSED');
    // it tried for the whole wait, not longer: its last try comes right at the 600 ms (its
    // clock starts as the statement is sent, a little after this test's)
    expect(waited).toBeGreaterThanOrEqual(590);
    expect(waited).toBeLessThan(3_000);

    let entered = false;
    const failed = await db
      .transaction(async () => {
        entered = true;
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isDianaError(failed, 'E_DB_UNAVAILABLE')).toBe(true);
    expect(entered).toBe(false);
  });

  it('a pool that closes stops waiting', async () => {
    const target = Number(new URL(testDb.url).port || 5432);
    await using proxy = await startTcpProxy(target);
    const db = poolThrough(proxy, 30_000);
    await proxy.down();
    const before = sockets.length;
    const waiting = watch(db.sql`select 1`);
    await refusedAtLeast(before, 2);
    expect(waiting.settled).toBe(false);
    const closing = Date.now();
    await db.close({ timeout_ms: 1_000 });
    await allSettled([waiting], 3_000);
    expect(Date.now() - closing).toBeLessThan(3_000);
    expect(waiting.error).toBeDefined();
  });

  it('a statement a connection took is not tried again, whatever code its error has', async () => {
    // the kernel reports a host or port unreachable (an ICMP error) on an open connection as
    // EHOSTUNREACH or ECONNREFUSED once it gives up on it: the statement may have run
    const setup = poolThrough(undefined, 0);
    await setup.sql`create table took (v int)`;
    const db = poolThrough(undefined, 8_000, 1);
    await db.sql`select 1`;
    const socket = sockets.at(-1) as net.Socket;
    const running = () =>
      setup.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where query like '%pg_sleep(0.4)%' and pid <> pg_backend_pid()`;
    const write = watch(db.sql`with s as (select pg_sleep(0.4)) insert into took (v) select 1 from s`);
    // the server runs it: then its connection fails as the kernel would say
    await vi.waitFor(async () => expect(await running()).toEqual([{ n: 1 }]), { timeout: 5_000, interval: 10 });
    socket.destroy(Object.assign(new Error('read EHOSTUNREACH'), { code: 'EHOSTUNREACH' }));
    await allSettled([write], 5_000);
    expect(isDianaError(write.error, 'E_DB_UNAVAILABLE')).toBe(true);
    // the server finishes it once; it is not sent again (before: two rows)
    await vi.waitFor(async () => expect(await running()).toEqual([{ n: 0 }]), { timeout: 5_000, interval: 20 });
    expect(await setup.sql`select count(*)::int as n from took`).toEqual([{ n: 1 }]);
    await setup.sql`drop table took`;
  });

  it('.describe() tried again only describes; a statement cancelled while it waits never runs', async () => {
    const target = Number(new URL(testDb.url).port || 5432);
    await using proxy = await startTcpProxy(target);
    const setup = poolThrough(undefined, 0);
    await setup.sql`create table waited_kinds (v int)`;
    const db = poolThrough(proxy, 8_000);
    await proxy.down();
    const before = sockets.length;
    const described = watch(db.sql`insert into waited_kinds (v) values (${1})`.describe());
    const doomed = db.sql`insert into waited_kinds (v) values (2)`;
    const cancelled = watch(doomed);
    // both refused more than once: they are waiting
    await refusedAtLeast(before, 4);
    expect([described.settled, cancelled.settled]).toEqual([false, false]);
    await doomed.cancel();
    await proxy.up();
    await allSettled([described, cancelled], 6_000);
    expect(described.error).toBeUndefined();
    expect((described.value as unknown as { types: number[] }).types).toHaveLength(1);
    expect(isDianaError(cancelled.error)).toBe(true);
    expect((cancelled.error as { context?: { pg_code?: string } }).context?.pg_code).toBe('57014');
    // neither inserted a row (before: the described INSERT ran once the server was back)
    await db.sql`select 1`;
    expect(await setup.sql`select count(*)::int as n from waited_kinds`).toEqual([{ n: 0 }]);
    await setup.sql`drop table waited_kinds`;
  });

  it('more statements than connections: each gets its own wait and its own end, none waits past it', async () => {
    const target = Number(new URL(testDb.url).port || 5432);
    await using proxy = await startTcpProxy(target);
    // not waiting: every one fails at once (before: one per connection per reconnect, a backoff
    // apart — the rest waited with no deadline until the server was back)
    const failing = poolThrough(proxy, 0, 2);
    await proxy.down();
    const started = Date.now();
    const refused = Array.from({ length: 40 }, () => watch(failing.sql`select 1`));
    await allSettled(refused, 5_000);
    expect(refused.filter((s) => !isDianaError(s.error, 'E_DB_UNAVAILABLE'))).toEqual([]);
    expect(refused.filter((s) => String((s.error as Error).message).includes('ECONNREFUSED'))).toHaveLength(40);
    expect(Date.now() - started).toBeLessThan(3_000); // a round per connection, a backoff apart: 10 s and more
    // a short wait: every one fails once its own wait is over
    const bounded = poolThrough(proxy, 800, 2);
    const began = Date.now();
    const ended = Array.from({ length: 40 }, () => watch(bounded.sql`select 1`));
    await allSettled(ended, 8_000);
    expect(ended.filter((s) => !isDianaError(s.error, 'E_DB_UNAVAILABLE'))).toEqual([]);
    // 800 ms, a last try that waits up to a second for the driver's reconnect, and a busy machine's slack
    expect(Date.now() - began).toBeLessThan(5_000);
    // a long one: all of them run once the server is back. Forty waiting at once print no
    // warning (each listens for the pool's closing: Node warned from the eleventh on)
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const waiting = poolThrough(proxy, 8_000, 2);
      const before = sockets.length;
      const later = Array.from({ length: 40 }, (_, i) => watch(waiting.sql<{ n: number }[]>`select ${i}::int as n`));
      await refusedAtLeast(before, 4);
      expect(later.filter((s) => s.settled)).toEqual([]);
      await proxy.up();
      await allSettled(later, 6_000);
      expect(later.map((s) => s.value?.[0]?.n)).toEqual(Array.from({ length: 40 }, (_, i) => i));
      expect(warnings).toEqual([]);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('a statement of the pool that succeeds ends every pause before a try for the server', async () => {
    const closing = new AbortController();
    const tracker: QueryTracker = {
      serverEndedSessions: () => false,
      inFlight: new Set(),
      transactions: 0,
      maxRetries: 2,
      connectWaitMs: 30_000,
      closing: closing.signal,
      waiters: new Set(),
      metrics: createDbMetrics('pause-test', () => ({ open: 0, busy: 0, waiting: 0, max: 1 })),
    };
    const raw = vendored(testDb.url, { max: 1, onnotice: () => {} });
    try {
      const sql = instrumentSql(raw, tracker, false);
      // two pauses far longer than the test: a statement's success ends both
      const started = performance.now();
      const pauses = [pauseForServer(60_000, tracker), pauseForServer(60_000, tracker)];
      expect(tracker.waiters.size).toBe(2);
      await sql`select 1`;
      await Promise.all(pauses);
      expect(tracker.waiters.size).toBe(0);
      expect(performance.now() - started).toBeLessThan(10_000);
      // and a closing pool ends one with a rejection
      const pause = pauseForServer(60_000, tracker);
      closing.abort();
      await expect(pause).rejects.toBeDefined();
      expect(tracker.waiters.size).toBe(0);
    } finally {
      await raw.end({ timeout: 1 });
    }
  });
});
