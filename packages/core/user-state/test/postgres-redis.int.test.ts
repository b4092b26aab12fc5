import { fileURLToPath } from 'node:url';
import { createPostgres, type Database, DB_MIGRATIONS, migrate } from '@diana/db';
import { createEventBus, createMemoryTransport, EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { createRedisConnector, type RedisConnector } from '@diana/redis';
import { advanceRedisTtls, startWorker, until, useTestDatabase, useTestRedis } from '@diana/test-services';
import { createManualClock, isDianaError, newId } from '@diana/utils';
import { Redis } from 'ioredis';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemorySliceStore } from '../src/adapters/memory.js';
import { createPostgresSliceStore } from '../src/adapters/postgres.js';
import { createRedisSliceStore, createRedisStateStore } from '../src/adapters/redis.js';
import { USER_STATE_EVENTS } from '../src/events.js';
import { createUserStateManager, type UserStateManager } from '../src/manager.js';
import { USER_STATE_MIGRATIONS } from '../src/migrations.js';
import { defineSlice, type SliceDefinition } from '../src/slice.js';
import { describeSliceStore, describeUserStateManager } from '../src/testing.js';
import type { StoredSlice } from '../src/types.js';
import { redisStore } from './fixtures/redis-store.js';
import { STORM_SLICES } from './fixtures/slices.js';

const testDb = await useTestDatabase('user-state');
const testRedis = await useTestRedis('user-state');
const redisPort = Number(new URL(testRedis.url).port);
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 10 });
const managers: UserStateManager<readonly SliceDefinition[]>[] = [];
const connections: Array<{ close(): Promise<void> }> = [];
const raw = new Redis(testRedis.url);
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, USER_STATE_MIGRATIONS]);
});
afterAll(async () => {
  await Promise.all([...managers, ...connections].map((m) => m.close()));
  raw.disconnect();
  await db.close();
});
// Time passes for a suite's keys only: their TTLs shrink (a wait in real time failed when a busy
// CI machine stalled for longer than the test's margin)
const redisClock = (prefix: string) => async (ms: number) => {
  await advanceRedisTtls(raw, prefix, ms);
};
let prefixes = 0;
const make = <const S extends readonly SliceDefinition[]>(
  slices: S,
  config: Record<string, unknown> = {},
  prefix = `${testRedis.prefix}m${prefixes++}:`,
  redis = true,
) => {
  const settings = { key_prefix: prefix, ...config };
  const manager = createUserStateManager(settings, {
    db,
    ...(redis ? { store: redisStore(settings, redisPort) } : {}),
    slices,
  });
  managers.push(manager as never);
  return manager;
};

describeSliceStore('postgres', () => ({ store: createPostgresSliceStore(db) }));
describeSliceStore('postgres, each statement alone (batch_max: 1)', () => ({
  store: createPostgresSliceStore(db, { batch_max: 1 }),
}));
describeSliceStore('redis', () => {
  const prefix = `${testRedis.prefix}store${prefixes++}:`;
  const connection = redisStore({ key_prefix: prefix }, redisPort);
  connections.push(connection);
  return { store: createRedisSliceStore(connection), advance: redisClock(prefix) };
});

describeUserStateManager('PostgreSQL + Redis', () => {
  const prefix = `${testRedis.prefix}suite${prefixes++}:`;
  return { create: (slices, config = {}) => make(slices, config, prefix), advance: redisClock(prefix) };
});
describeSliceStore('redis, each read and compare-and-set its own call (redis_batch_max: 1)', () => {
  const prefix = `${testRedis.prefix}single${prefixes++}:`;
  const connection = redisStore({ key_prefix: prefix, redis_batch_max: 1 }, redisPort);
  connections.push(connection);
  return { store: createRedisSliceStore(connection), advance: redisClock(prefix) };
});
describeUserStateManager('PostgreSQL + Redis, unbatched (redis_batch_max: 1)', () => {
  const prefix = `${testRedis.prefix}single-suite${prefixes++}:`;
  return {
    create: (slices, config = {}) => make(slices, { redis_batch_max: 1, ...config }, prefix),
    advance: redisClock(prefix),
  };
});
describeUserStateManager('PostgreSQL + memory (embedded default, no Redis)', () => {
  // the memory home of one process, shared by the managers of one test, on a manual clock
  const clock = createManualClock(1_000);
  const ephemeral = createMemorySliceStore({ clock });
  return {
    create: (slices, config = {}) => {
      const manager = createUserStateManager(config, { db, slices, stores: { ephemeral }, clock });
      managers.push(manager as never);
      return manager;
    },
    advance: async (ms) => clock.advance(ms),
  };
});

describe('across processes', () => {
  for (const slice of ['p_storm', 'e_storm'] as const) {
    it(`three processes × 50 concurrent updates of one ${slice === 'p_storm' ? 'persistent' : 'ephemeral'} counter → exactly 150`, async () => {
      const script = fileURLToPath(new URL('./fixtures/storm-worker.ts', import.meta.url));
      const user = newId();
      const prefix = `${testRedis.prefix}storm:`;
      const workers = [startWorker(script), startWorker(script), startWorker(script)];
      for (const worker of workers)
        worker.send({ type: 'config', database_url: testDb.url, redis_port: redisPort, prefix, slice, user });
      await Promise.all(workers.map((worker) => worker.waitFor('ready')));
      for (const worker of workers) worker.send({ type: 'go' });
      const results = await Promise.all(workers.map((worker) => worker.waitFor('result', 60_000)));
      await Promise.all(workers.map((worker) => worker.exited()));
      const conflicts = results.reduce((sum, r) => sum + (r.stats as { conflicts: number }).conflicts, 0);
      expect(conflicts).toBeGreaterThan(0); // they really raced
      const reader = make(STORM_SLICES, {}, prefix);
      expect(await reader.get(user, slice)).toEqual({ n: 150 });
      if (slice === 'p_storm') {
        const [row] = await db.sql<{ version: string }[]>`
          select version::text as version from user_state where user_id = ${user} and slice = 'p_storm'`;
        expect(row?.version).toBe('150');
      }
    }, 120_000); // three child processes on a busy machine: correctness, not speed
  }
});

describe('contention the defaults absorb', () => {
  it('four processes × 100 concurrent updates of one persistent slice, default settings → all 400 applied', async () => {
    const script = fileURLToPath(new URL('./fixtures/storm-worker.ts', import.meta.url));
    const user = newId();
    const prefix = `${testRedis.prefix}storm4:`;
    const workers = Array.from({ length: 4 }, () => startWorker(script));
    for (const worker of workers)
      worker.send({
        type: 'config',
        database_url: testDb.url,
        redis_port: redisPort,
        prefix,
        slice: 'p_storm',
        user,
        count: 100,
        defaults: true,
      });
    await Promise.all(workers.map((worker) => worker.waitFor('ready')));
    for (const worker of workers) worker.send({ type: 'go' });
    const results = await Promise.all(workers.map((worker) => worker.waitFor('result', 90_000)));
    await Promise.all(workers.map((worker) => worker.exited()));
    const failures = results.flatMap((r) => r.failures as string[]);
    const latencies = results.flatMap((r) => r.latencies as number[]).sort((a, b) => a - b);
    const conflicts = results.reduce((sum, r) => sum + (r.stats as { conflicts: number }).conflicts, 0);
    process.stdout.write(
      `4 processes × 100 updates of one slice: ${latencies.length} applied, ${failures.length} gave up, ${conflicts} lost compare-and-sets; p50 ${Math.round(latencies[Math.floor(latencies.length / 2)] ?? 0)} ms, p99 ${Math.round(latencies[Math.floor(latencies.length * 0.99)] ?? 0)} ms\n`,
    );
    expect(conflicts).toBeGreaterThan(0); // the processes really raced
    expect(failures).toEqual([]);
    expect(await make(STORM_SLICES, {}, prefix).get(user, 'p_storm')).toEqual({ n: 400 });
  }, 180_000);

  it('two managers batching updates of the same 32 users in opposite orders: no batch fails on a deadlock, nothing lost', async () => {
    const counter = defineSlice('crossed', { schema: v.object({ n: v.number() }), initial: { n: 0 }, persist: true });
    const [a, b] = [make([counter], {}, undefined, false), make([counter], {}, undefined, false)];
    const users = Array.from({ length: 32 }, () => newId());
    const rounds = 20;
    const failures: unknown[] = [];
    for (let round = 0; round < rounds; round++) {
      // both remember the same rows, so both write first, in one statement per turn, and race
      await Promise.all(users.flatMap((user) => [a.get(user, 'crossed'), b.get(user, 'crossed')]));
      const results = await Promise.allSettled([
        ...users.map((user) => a.update(user, 'crossed', (c) => ({ n: c.n + 1 }))),
        ...users.toReversed().map((user) => b.update(user, 'crossed', (c) => ({ n: c.n + 1 }))),
      ]);
      for (const r of results) if (r.status === 'rejected') failures.push(r.reason);
    }
    expect(a.stats().conflicts + b.stats().conflicts).toBeGreaterThan(0); // the batches really crossed
    expect(failures).toEqual([]);
    const rows = await db.sql<{ n: number }[]>`
      select (data->>'n')::int as n from user_state where slice = 'crossed' and user_id = any(${users})`;
    expect(rows.map((r) => r.n)).toEqual(users.map(() => rounds * 2));
  }, 120_000);
});

describe('the Redis cache of persistent slices', () => {
  const profile = defineSlice('profile', {
    schema: v.object({ lang: v.string() }),
    initial: { lang: 'es' },
    persist: true,
  });
  const cacheKey = (prefix: string, user: string) => `${prefix}{u:${user}}:p:profile`;
  // the cached record is '-:<version>:<schema version>:<write id>|<JSON>'
  const cached = async (prefix: string, user: string) => {
    const record = await raw.get(cacheKey(prefix, user));
    return record === null ? null : { version: record.split(':')[1], data: record.slice(record.indexOf('|') + 1) };
  };

  it('close() with updates in flight: the running one ends with its row cached, the waiting ones are refused and write nothing', async () => {
    const prefix = `${testRedis.prefix}closing:`;
    const state = make([profile], {}, prefix);
    const user = newId();
    await state.set(user, 'profile', { lang: 'x' });
    const updates = Array.from({ length: 10 }, () =>
      state
        .update(user, 'profile', (p) => ({ lang: `${p.lang}x` }))
        .then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        ),
    );
    await state.close({ timeout_ms: 5_000 });
    const results = await Promise.all(updates);
    const written = results.filter((r) => 'value' in r);
    const refused = results.filter((r) => 'error' in r);
    expect(written.length).toBeGreaterThan(0); // one was running when close came
    expect(refused.length).toBeGreaterThan(0); // and others were waiting for their turn
    for (const r of refused) expect(isDianaError((r as { error: unknown }).error, 'E_STATE_CLOSED')).toBe(true);
    const lang = 'x'.repeat(1 + written.length);
    const [row] = await db.sql<{ lang: string }[]>`
      select data->>'lang' as lang from user_state where user_id = ${user} and slice = 'profile'`;
    expect(row?.lang).toBe(lang);
    // the cached copy is the committed row: another process reads it, not the one before
    expect((await cached(prefix, user))?.data).toBe(JSON.stringify({ lang }));
    expect(await make([profile], {}, prefix).get(user, 'profile')).toEqual({ lang });
  });

  it('serves repeated reads from Redis; a write in another process replaces the cached row', async () => {
    const prefix = `${testRedis.prefix}cache1:`;
    const a = make([profile], {}, prefix);
    const b = make([profile], {}, prefix);
    const user = newId();
    expect(await a.get(user, 'profile')).toEqual({ lang: 'es' }); // miss: PostgreSQL (no row), cached
    expect(await a.get(user, 'profile')).toEqual({ lang: 'es' });
    expect(a.stats()).toMatchObject({ cache_misses: 1, cache_hits: 1 });
    await b.set(user, 'profile', { lang: 'en' });
    expect(await a.get(user, 'profile')).toEqual({ lang: 'en' });
    expect(a.stats().cache_hits).toBe(2);
  });

  it('a stale cached row only costs a retry: update reads PostgreSQL after a lost compare-and-set', async () => {
    const prefix = `${testRedis.prefix}cache2:`;
    const state = make([profile], {}, prefix);
    const user = newId();
    await state.set(user, 'profile', { lang: 'en' });
    // another writer changes the row behind the cache's back
    await db.sql`update user_state set version = version + 1, data = '{"lang":"fr"}' where user_id = ${user}`;
    expect(await state.get(user, 'profile')).toEqual({ lang: 'en' }); // stale until the next write
    const next = await state.update(user, 'profile', (p) => ({ lang: `${p.lang}!` }));
    expect(next).toEqual({ lang: 'fr!' });
    expect(state.stats().conflicts).toBe(1);
    expect(await state.get(user, 'profile')).toEqual({ lang: 'fr!' });
  });

  it('inside a transaction: nothing reaches the cache before commit; a rollback leaves row and cache as they were', async () => {
    const prefix = `${testRedis.prefix}cache3:`;
    const state = make([profile], {}, prefix);
    const user = newId();
    await state.set(user, 'profile', { lang: 'en' });
    // rejects.toThrow with the message: a failed expect inside the transaction is not swallowed
    await expect(
      db.transaction(async () => {
        await state.set(user, 'profile', { lang: 'de' });
        expect((await cached(prefix, user))?.data).toBe('{"lang":"en"}');
        throw new Error('the enclosing work fails');
      }),
    ).rejects.toThrow('the enclosing work fails');
    expect(await state.get(user, 'profile')).toEqual({ lang: 'en' });
    expect(await make([profile], {}, prefix).get(user, 'profile')).toEqual({ lang: 'en' });

    await db.transaction(async () => {
      await state.set(user, 'profile', { lang: 'it' });
      expect((await cached(prefix, user))?.data).toBe('{"lang":"en"}');
    });
    expect((await cached(prefix, user))?.data).toBe('{"lang":"it"}');
    expect(await make([profile], {}, prefix).get(user, 'profile')).toEqual({ lang: 'it' });
  });

  // statements on the pool and in transactions, counted where the driver is called
  const countingDb = () => {
    let statements = 0;
    const count = <F extends object>(f: F): F =>
      new Proxy(f, {
        apply(target, self, args) {
          statements++;
          return Reflect.apply(target as (...a: unknown[]) => unknown, self, args);
        },
      });
    const sql = count(db.sql);
    const seen: Database = {
      ...db,
      sql,
      // outside a transaction the session is the pool's sql, as with the real db
      session: () => (db.session() === db.sql ? sql : count(db.session())),
      transaction: (fn) => db.transaction((tx) => fn(count(tx))),
    };
    return { db: seen, statements: () => statements };
  };

  it('an update inside a transaction starts from the row read just before it: no second read', async () => {
    const prefix = `${testRedis.prefix}cache6:`;
    const { db: seen, statements } = countingDb();
    const settings = { key_prefix: prefix };
    const state = createUserStateManager(settings, {
      db: seen,
      store: redisStore(settings, redisPort),
      slices: [profile],
    });
    managers.push(state as never);
    const user = newId();
    await state.set(user, 'profile', { lang: 'en' });
    expect(await state.get(user, 'profile')).toEqual({ lang: 'en' });
    const before = statements();
    await seen.transaction(() => state.update(user, 'profile', (p) => ({ lang: `${p.lang}!` })));
    expect(statements() - before).toBe(1); // the compare-and-set alone
    expect(state.stats().conflicts).toBe(0);
    expect(await make([profile], {}, prefix).get(user, 'profile')).toEqual({ lang: 'en!' });
  });

  it('a persistent update is written first: one statement for a user not cached, a remembered one or one in a transaction; a wrong guess is told the row', async () => {
    const prefix = `${testRedis.prefix}first:`;
    const { db: seen, statements } = countingDb();
    const settings = { key_prefix: prefix };
    const store = redisStore(settings, redisPort);
    const client = await store.readyNow();
    if (!client) throw new Error('redis not ready');
    let lookups = 0;
    const mget = client.mget.bind(client);
    client.mget = ((...args: Parameters<typeof mget>) => {
      lookups++;
      return mget(...args);
    }) as typeof client.mget;
    const state = createUserStateManager(settings, { db: seen, store, slices: [profile] });
    managers.push(state as never);
    const other = make([profile], {}, prefix);
    const step = async (work: () => Promise<unknown>) => {
      const [s, l] = [statements(), lookups];
      await work();
      return { statements: statements() - s, lookups: lookups - l };
    };
    const [fresh, known, inside] = [newId(), newId(), newId()];
    // a user the cache does not hold: no read, the insert
    expect(await step(() => state.update(fresh, 'profile', () => ({ lang: 'en' })))).toEqual({
      statements: 1,
      lookups: 1,
    });
    // remembered: neither the cache nor PostgreSQL is read
    expect(await step(() => state.update(fresh, 'profile', (p) => ({ lang: `${p.lang}!` })))).toEqual({
      statements: 1,
      lookups: 0,
    });
    // inside a transaction, a user it has not seen: the insert alone
    expect(await step(() => seen.transaction(() => state.update(inside, 'profile', () => ({ lang: 'it' }))))).toEqual({
      statements: 1,
      lookups: 0,
    });
    // a row written by another process, not in the cache: the insert is refused with the row, and the update follows
    await other.set(known, 'profile', { lang: 'fr' });
    await raw.del(cacheKey(prefix, known));
    expect(await step(() => state.update(known, 'profile', (p) => ({ lang: `${p.lang}+a` })))).toEqual({
      statements: 2,
      lookups: 1,
    });
    expect(state.stats().conflicts).toBe(0); // a wrong "no record" is not a race lost
    expect(await other.get(known, 'profile')).toEqual({ lang: 'fr+a' });
    expect(await other.get(fresh, 'profile')).toEqual({ lang: 'en!' });
    expect(await other.get(inside, 'profile')).toEqual({ lang: 'it' });
    // the same inside a transaction: refused with the row, then updated, nothing read
    await other.set(known, 'profile', { lang: 'de' }); // a's memory of known is stale now
    expect(
      await step(() => seen.transaction(() => state.update(known, 'profile', (p) => ({ lang: `${p.lang}+t` })))),
    ).toEqual({ statements: 2, lookups: 0 });
    expect(await other.get(known, 'profile')).toEqual({ lang: 'de+t' });
  });

  it('a remembered row another process changed since only costs a retry inside the transaction: nothing is lost', async () => {
    const prefix = `${testRedis.prefix}cache7:`;
    const a = make([profile], {}, prefix);
    const b = make([profile], {}, prefix);
    const user = newId();
    await a.set(user, 'profile', { lang: 'en' });
    expect(await a.get(user, 'profile')).toEqual({ lang: 'en' }); // remembered by a
    await b.update(user, 'profile', (p) => ({ lang: `${p.lang}+b` })); // a's copy is now stale
    const next = await db.transaction(() => a.update(user, 'profile', (p) => ({ lang: `${p.lang}+a` })));
    expect(next).toEqual({ lang: 'en+b+a' });
    expect(a.stats().conflicts).toBe(1); // the stale copy was tried and refused
    expect(await b.get(user, 'profile')).toEqual({ lang: 'en+b+a' });
  });

  it('inside a transaction, "nothing to change" is never decided on a remembered row: the row is read and fn runs again', async () => {
    const prefix = `${testRedis.prefix}cache8:`;
    const a = make([profile], {}, prefix);
    const b = make([profile], {}, prefix);
    const user = newId();
    await a.set(user, 'profile', { lang: 'es' });
    expect(await a.get(user, 'profile')).toEqual({ lang: 'es' });
    await b.set(user, 'profile', { lang: 'fr' });
    const seen: string[] = [];
    // changes only a French profile: a's stale copy (es) would say "nothing to do"
    const next = await db.transaction(() =>
      a.update(user, 'profile', (p) => {
        seen.push(p.lang);
        return p.lang === 'fr' ? { lang: 'fr-CA' } : p;
      }),
    );
    expect(seen).toEqual(['es', 'fr']);
    expect(next).toEqual({ lang: 'fr-CA' });
    expect(await b.get(user, 'profile')).toEqual({ lang: 'fr-CA' });
  });

  it('a row written by a transaction that rolled back is not remembered', async () => {
    const prefix = `${testRedis.prefix}cache9:`;
    const a = make([profile], {}, prefix);
    const user = newId();
    await a.set(user, 'profile', { lang: 'en' });
    await expect(
      db.transaction(async () => {
        await a.set(user, 'profile', { lang: 'de' });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const next = await db.transaction(() => a.update(user, 'profile', (p) => ({ lang: `${p.lang}!` })));
    expect(next).toEqual({ lang: 'en!' });
    expect(a.stats().conflicts).toBe(0);
  });

  it("inside a transaction, get reads the row: the transaction's own write, and what another process committed since", async () => {
    const prefix = `${testRedis.prefix}cache10:`;
    const a = make([profile], {}, prefix);
    const b = make([profile], {}, prefix);
    const user = newId();
    await a.set(user, 'profile', { lang: 'en' }); // remembered by a
    const own = await db.transaction(async () => {
      await a.set(user, 'profile', { lang: 'de' });
      return a.get(user, 'profile');
    });
    expect(own).toEqual({ lang: 'de' }); // it was the remembered { lang: 'en' }
    await b.set(user, 'profile', { lang: 'fr' }); // a's remembered copy is now stale
    expect(await db.transaction(() => a.get(user, 'profile'))).toEqual({ lang: 'fr' });
  });

  it("two transactions of one process update one row, the first twice: no wait on each other's turn, nothing lost", async () => {
    const prefix = `${testRedis.prefix}cache11:`;
    const a = make([profile], {}, prefix);
    const user = newId();
    await a.set(user, 'profile', { lang: '' });
    const events: string[] = [];
    let firstWritten!: () => void;
    const written = new Promise<void>((resolve) => {
      firstWritten = resolve;
    });
    let secondWaits!: () => void;
    const waiting = new Promise<void>((resolve) => {
      secondWaits = resolve;
    });
    const started = performance.now();
    const first = db.transaction(async () => {
      await a.update(user, 'profile', (p) => ({ lang: `${p.lang}a` }));
      firstWritten();
      // the second transaction's update now waits for this one's row lock; before, this
      // update waited for that one's turn: each waited for the other until statement_timeout
      await waiting;
      await a.update(user, 'profile', (p) => ({ lang: `${p.lang}a` }));
      events.push('first done');
    });
    const second = written.then(() =>
      db
        .transaction(() => a.update(user, 'profile', (p) => ({ lang: `${p.lang}b` })))
        .then(() => events.push('second done')),
    );
    // the second's compare-and-set is blocked by the first's row lock (the fault this test is about)
    const blocked = await until(async () => {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`;
      return (row?.n ?? 0) > 0;
    });
    expect(blocked).toBe(true);
    secondWaits();
    await Promise.all([first, second]);
    expect(performance.now() - started).toBeLessThan(10_000); // statement_timeout is 30 s
    expect(events).toEqual(['first done', 'second done']);
    expect(await a.get(user, 'profile')).toEqual({ lang: 'aab' });
  }, 40_000);

  // a manager whose Redis store counts its MGET and cache-put script calls
  const counted = async (prefix: string) => {
    const settings = { key_prefix: prefix };
    const store = redisStore(settings, redisPort);
    connections.push(store);
    const client = await store.readyNow();
    if (!client) throw new Error('redis not ready');
    const calls = { mget: 0, cachePut: 0 };
    const mget = client.mget.bind(client);
    const put = client.cachePut.bind(client);
    client.mget = ((...args: Parameters<typeof mget>) => {
      calls.mget++;
      return mget(...args);
    }) as typeof client.mget;
    client.cachePut = (...args) => {
      calls.cachePut++;
      return put(...args);
    };
    const state = createUserStateManager(settings, { db, store, slices: [profile] });
    managers.push(state as never);
    return { state, calls };
  };

  it('an update puts the row it wrote, once; only a read that writes nothing fills the cache', async () => {
    const prefix = `${testRedis.prefix}cache5:`;
    const { state, calls } = await counted(prefix);
    const puts = () => calls.cachePut;
    const user = newId();
    await state.set(user, 'profile', { lang: 'en' }); // read from PostgreSQL (miss), written
    expect(puts()).toBe(1);
    expect((await cached(prefix, user))?.data).toBe('{"lang":"en"}');
    await db.transaction(() => state.update(user, 'profile', () => ({ lang: 'it' })));
    expect(puts()).toBe(2); // in a transaction: written on the row it remembers, one put once committed
    expect((await cached(prefix, user))?.data).toBe('{"lang":"it"}');
    const other = newId();
    await state.update(other, 'profile', (current) => current); // nothing to write: the read fills
    expect(puts()).toBe(3);
    expect(await state.get(other, 'profile')).toEqual({ lang: 'es' }); // a hit: no put
    expect(puts()).toBe(3);
    expect(state.stats()).toMatchObject({ cache_misses: 2, cache_hits: 1 });
  });

  it("a turn's cache lookups go as one MGET and its puts as one script call", async () => {
    const { state, calls } = await counted(`${testRedis.prefix}cache6:`);
    const users = Array.from({ length: 10 }, () => newId());
    await Promise.all(users.map((user, i) => state.set(user, 'profile', { lang: `l${i}` })));
    expect(calls).toEqual({ mget: 1, cachePut: 1 });
    expect(state.stats()).toMatchObject({ cache_misses: 10 });
    const again = await Promise.all(users.map((user) => state.get(user, 'profile')));
    expect(again).toEqual(users.map((_, i) => ({ lang: `l${i}` })));
    expect(calls).toEqual({ mget: 2, cachePut: 1 });
    expect(state.stats()).toMatchObject({ cache_hits: 10 });
  });

  it('an invalid value writes nothing anywhere', async () => {
    const prefix = `${testRedis.prefix}cache4:`;
    const state = make([profile], {}, prefix);
    const user = newId();
    await expect(state.set(user, 'profile', { lang: 7 as unknown as string })).rejects.toThrow(
      /E_STATE_INVALID|invalid value/,
    );
    const rows = await db.sql`select 1 from user_state where user_id = ${user}`;
    expect(rows).toHaveLength(0);
    // nothing in Redis either: the read before the write leaves the cache to the write
    expect(await cached(prefix, user)).toBeNull();
    expect(await state.get(user, 'profile')).toEqual({ lang: 'es' });
  });

  it('a value jsonb cannot hold (U+0000, a lone surrogate, in a string or a key) is E_STATE_INVALID at once, nothing written', async () => {
    const notes = defineSlice('notes', { schema: v.record(v.string(), v.string()), initial: {}, persist: true });
    const state = make([notes]);
    const user = newId();
    const values: Record<string, string>[] = [
      { a: 'nul\u0000' },
      { a: 'half \ud83d' },
      { a: '\ude00 half' },
      { 'key\ud800': 'x' },
    ];
    for (const value of values) {
      const error = await state.set(user, 'notes', value).catch((e: unknown) => e);
      expect(isDianaError(error, 'E_STATE_INVALID')).toBe(true);
    }
    expect(state.stats()).toMatchObject({ conflicts: 0 });
    expect(await db.sql`select 1 from user_state where user_id = ${user}`).toHaveLength(0);
    // a whole pair is fine
    await state.set(user, 'notes', { a: 'kiss \ud83d\ude18' });
    expect(await make([notes]).get(user, 'notes')).toEqual({ a: 'kiss 😘' });
  });
});

describe('user.state_changed and the caller’s transaction', () => {
  it('is written to the outbox in the same transaction as the row', async () => {
    // created without db: the manager names its own db, so the event still joins the row's transaction
    const bus = createEventBus({}, { transport: createMemoryTransport(), events: USER_STATE_EVENTS });
    const story = defineSlice('story', {
      schema: v.object({ at: v.string() }),
      initial: { at: 'start' },
      persist: true,
      notify: true,
    });
    const state = createUserStateManager({ key_prefix: `${testRedis.prefix}notify:` }, { db, bus, slices: [story] });
    managers.push(state as never);
    const user = newId();
    await state.set(user, 'story', { at: 'fragment-2' });
    await expect(
      db.transaction(async () => {
        await state.set(user, 'story', { at: 'fragment-3' });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    const rows = await db.sql<{ type: string; key: string; envelope: string }[]>`
      select type, key, envelope from event_outbox where key = ${user}`;
    expect(rows).toHaveLength(1);
    expect(rows[0]?.type).toBe('user.state_changed');
    expect(JSON.parse(rows[0]?.envelope ?? '{}').payload).toEqual({ user_id: user, slice: 'story', version: 1 });
    await bus.close();
  });

  it('an ephemeral slice written inside a transaction that rolls back still announces its write', async () => {
    const transport = createMemoryTransport();
    const bus = createEventBus({}, { transport, events: USER_STATE_EVENTS, db });
    const draft = defineSlice('draft', {
      schema: v.object({ at: v.string() }),
      initial: { at: 'start' },
      persist: false,
      ttl_ms: 60_000,
      notify: true,
    });
    const state = createUserStateManager({ key_prefix: `${testRedis.prefix}ephemeral:` }, { db, bus, slices: [draft] });
    managers.push(state as never);
    const user = newId();
    await expect(
      db.transaction(async () => {
        await state.set(user, 'draft', { at: 'fragment-3' });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    expect(await state.get(user, 'draft')).toEqual({ at: 'fragment-3' }); // not in PostgreSQL: it stands
    expect(await transport.streamLength('user.state_changed')).toBe(1); // appended, not in the outbox
    const rows = await db.sql`select 1 from event_outbox where key = ${user}`;
    expect(rows).toHaveLength(0);
    await bus.close();
  });
});

describe('coalescing per event-loop turn', () => {
  it('40 updates of distinct users asked in one turn go as ⌈40/16⌉ script calls and no read (redis_batch_max default 16); a wrong guess costs ⌈40/16⌉ more, each applied', async () => {
    const sent: string[] = [];
    const settings = { key_prefix: `${testRedis.prefix}turn${prefixes++}:` };
    const connector = createRedisConnector({ options: { port: redisPort } });
    const counting: RedisConnector = {
      ...connector,
      command: (options) => {
        const client = connector.command(options);
        const send = client.sendCommand.bind(client);
        client.sendCommand = ((command: { name: string }) => {
          sent.push(command.name);
          return send(command as never);
        }) as typeof client.sendCommand;
        return client;
      },
    };
    const make = () => {
      const manager = createUserStateManager(settings, {
        db,
        store: createRedisStateStore(settings, { connector: counting }),
        slices: STORM_SLICES,
      });
      managers.push(manager as never);
      return manager;
    };
    const [manager, other] = [make(), make()];
    for (const each of [manager, other]) await each.update('warm', 'e_storm', (s) => ({ n: s.n + 1 })); // connected, script loaded
    const users = Array.from({ length: 40 }, (_, i) => `turn-${i}`);
    const count = (name: string) => sent.filter((n) => n === name).length;
    // asked in one synchronous loop: one turn
    const turn = async (by: typeof manager, expected: (i: number) => number) => {
      sent.length = 0;
      const results = await Promise.all(users.map((user, i) => by.update(user, 'e_storm', (s) => ({ n: s.n + i }))));
      expect(results).toEqual(users.map((_, i) => ({ n: expected(i) })));
      return { reads: count('mget'), scripts: count('evalsha') + count('eval') };
    };
    // users never seen: each written as new, on no read
    expect(await turn(manager, (i) => i)).toEqual({ reads: 0, scripts: 3 });
    // seen by this manager: written on what it saw
    expect(await turn(manager, (i) => 2 * i)).toEqual({ reads: 0, scripts: 3 });
    // the other has not seen them: its guess (no record) is refused with the record, then written
    expect(await turn(other, (i) => 3 * i)).toEqual({ reads: 0, scripts: 6 });
    expect(other.stats().conflicts).toBe(0); // a wrong guess is not a race lost
    for (const [i, user] of users.entries()) expect(await manager.get(user, 'e_storm')).toEqual({ n: 3 * i });
    await connector.close();
  });
});

describe('the postgres store coalesces a turn outside a transaction', () => {
  // the database as the store sees it, counting the statements sent on the pool
  const counting = () => {
    let statements = 0;
    const sql = new Proxy(db.sql, {
      apply(target, self, args) {
        statements++;
        return Reflect.apply(target, self, args);
      },
    });
    const seen: Database = { ...db, sql, session: () => (db.session() === db.sql ? sql : db.session()) };
    return { db: seen, statements: () => statements };
  };
  const value = (data: unknown) => ({ data, schema_version: 1, write_id: newId() });

  it("sends a turn's reads as one statement and its writes as another, each decided as alone", async () => {
    const { db: seen, statements } = counting();
    const store = createPostgresSliceStore(seen);
    const users = Array.from({ length: 12 }, () => newId());
    const existing = (await Promise.all(
      users.map((user) => store.write(user, 'a', undefined, value({ n: 1 }))),
    )) as StoredSlice[];
    expect(statements()).toBe(1);
    const fresh = Array.from({ length: 12 }, () => newId());
    const before = statements();
    const [reads, writes] = await Promise.all([
      Promise.all([...users, ...fresh].map((user) => store.read(user, 'a'))),
      Promise.all([
        // fresh rows, the right token, a stale token, an insert over an existing row
        ...fresh.map((user) => store.write(user, 'a', undefined, value({ n: 1 }))),
        ...users.slice(0, 10).map((user, i) => store.write(user, 'a', existing[i]?.token, value({ n: 2 }))),
        store.write(users[10] as string, 'a', '7', value({ n: 99 })),
        store.write(users[11] as string, 'a', undefined, value({ n: 99 })),
      ]),
    ]);
    expect(statements() - before).toBe(2);
    // the turn's read and write statements go out together, on two pool connections (through
    // PgBouncer, two servers): either may run first, so a read sees the row before or after
    // the write, never anything else
    for (const [i, read] of reads.slice(0, 10).entries()) expect([existing[i], writes[12 + i]]).toContainEqual(read);
    expect(reads.slice(10, 12)).toEqual(existing.slice(10));
    for (const [i, read] of reads.slice(12).entries()) expect([undefined, writes[i]]).toContainEqual(read);
    const landed = writes as Array<StoredSlice | undefined>;
    expect(landed.slice(0, 12).map((w) => w?.version)).toEqual(fresh.map(() => 1));
    expect(landed.slice(12, 22).map((w) => w?.data)).toEqual(users.slice(0, 10).map(() => ({ n: 2 })));
    // the refused ones are told the row that stands, in the same statement
    expect(writes.slice(22)).toEqual([
      { conflict: true, current: existing[10] },
      { conflict: true, current: existing[11] },
    ]);
    const rows = await db.sql<{ n: number }[]>`
      select (data->>'n')::int as n from user_state where user_id = any(${[...users, ...fresh]}) order by n`;
    expect(rows.map((r) => r.n)).toEqual([...Array(14).fill(1), ...Array(10).fill(2)]);
  });

  it('a value PostgreSQL refuses fails only its own write: the rest of its batch is written', async () => {
    const { db: seen, statements } = counting();
    const store = createPostgresSliceStore(seen);
    const users = Array.from({ length: 5 }, () => newId());
    // jsonb holds no U+0000: the batch's statement fails, then each write goes alone
    const results = await Promise.allSettled(
      users.map((user, i) => store.write(user, 'a', undefined, value({ s: i === 2 ? 'nul\u0000' : 'ok' }))),
    );
    expect(statements()).toBe(1 + 5);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    expect(isDianaError((results[2] as PromiseRejectedResult).reason, 'E_DB_QUERY')).toBe(true);
    const rows = await db.sql<{ user_id: string }[]>`select user_id from user_state where user_id = any(${users})`;
    expect(rows.map((r) => r.user_id).sort()).toEqual(users.filter((_, i) => i !== 2).sort());
  });

  it('inside a transaction each statement runs in it, alone, and rolls back with it', async () => {
    const { db: seen, statements } = counting();
    const store = createPostgresSliceStore(seen);
    const users = Array.from({ length: 4 }, () => newId());
    await expect(
      seen.transaction(async () => {
        const written = await Promise.all(users.map((user) => store.write(user, 'a', undefined, value({ n: 1 }))));
        expect(written.map((w) => (w as StoredSlice | undefined)?.version)).toEqual([1, 1, 1, 1]);
        throw new Error('the enclosing work fails');
      }),
    ).rejects.toThrow('the enclosing work fails');
    expect(statements()).toBe(0); // none went on the pool
    expect(await Promise.all(users.map((user) => store.read(user, 'a')))).toEqual(users.map(() => undefined));
  });
});
