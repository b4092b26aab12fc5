import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { createPostgres, type Database, DB_MIGRATIONS, migrate } from '@diana/db';
import { createRedisConnector } from '@diana/redis';
import { startRedis, startWorker, useTestDatabase, useTestRedis } from '@diana/test-services';
import { createLogger } from '@diana/utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { createInbox } from '../src/inbox.js';
import { createOutboxRelay, EVENT_BUS_MIGRATIONS } from '../src/relay.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/testing.js';

const testDb = await useTestDatabase('outbox');
const redis = await useTestRedis('outbox');
const redisPort = Number(new URL(redis.url).port);
let db: Database;
beforeAll(async () => {
  // through PgBouncer (DIANA_TEST_POOLER=pgbouncer) migrations and LISTEN take the direct URL
  db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS]);
});
afterAll(() => db.close());

const waitFor = async (check: () => Promise<boolean> | boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const countOutbox = async () => {
  const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from event_outbox`;
  return row?.n ?? -1;
};
const countUnrelayed = async () => {
  const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from event_outbox where published_at is null`;
  return row?.n ?? -1;
};

describe('outbox', () => {
  it('a publish inside db.transaction joins it: never delivered on rollback, delivered once after commit', async () => {
    const prefix = `${redis.prefix}commit:`;
    const transport = createRedisStreamsTransport(
      { prefix },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
    const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db, transport });
    const got: number[] = [];
    bus.subscribe('outbox-reader', 'test.happened', (e) => void got.push(e.payload.n));
    const before = await countOutbox();
    // a publisher that knows nothing of the transaction, a few calls down
    const announce = async (n: number) => {
      await Promise.resolve();
      await bus.publish('test.happened', { n });
    };
    try {
      await expect(
        db.transaction(async () => {
          await announce(1);
          throw new Error('business change failed');
        }),
      ).rejects.toThrow('business change failed');
      await db.transaction(async () => {
        await announce(2);
        // a savepoint that rolls back takes its publish with it; the enclosing transaction goes on
        await db
          .transaction(async () => {
            await announce(3);
            throw new Error('inner step failed');
          })
          .catch(() => {});
        expect(await transport.streamLength('test.happened')).toBe(0); // not before commit
      });
      await waitFor(() => got.length === 1);
      // whatever else would come is relayed in the same pass as 2: settled once the outbox is empty
      await waitFor(async () => (await countUnrelayed()) === 0);
      expect(await transport.streamLength('test.happened')).toBe(1);
      expect(got).toEqual([2]);
      expect(await countOutbox()).toBe(before + 1); // 1 and 3 never reached the outbox

      // outside a transaction the same bus appends at once, without the outbox
      await bus.publish('test.happened', { n: 4 });
      expect(await transport.streamLength('test.happened')).toBe(2);
      expect(await countOutbox()).toBe(before + 1);
      await waitFor(() => got.length === 2);
      expect(got).toEqual([2, 4]);
    } finally {
      await relay.close();
      await bus.close({ timeout_ms: 200 });
      await transport.close();
    }
  });

  it("one transaction's publishes are written as one statement before COMMIT, and relayed in the order published", async () => {
    const prefix = `${redis.prefix}gathered:`;
    const transport = createRedisStreamsTransport(
      { prefix },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
    const got: number[] = [];
    bus.subscribe('gathered-reader', 'test.happened', (e) => void got.push(e.payload.n));
    const before = await countOutbox();
    // statements written to the outbox while the transaction runs, seen from inside it
    const rowsInside: number[] = [];
    const inside = async () => {
      const [row] = await db.session()<{ n: number }[]>`select count(*)::int as n from event_outbox`;
      rowsInside.push((row?.n ?? 0) - before);
    };
    try {
      await db.transaction(async () => {
        for (let n = 1; n <= 3; n++) {
          await bus.publish('test.happened', { n }, { key: 'k' });
          await inside();
        }
        // a released savepoint's publish joins the statement; a rolled-back one's never reaches it
        await db.transaction(() => bus.publish('test.happened', { n: 4 }));
        await db
          .transaction(async () => {
            await bus.publish('test.happened', { n: 99 });
            throw new Error('inner step failed');
          })
          .catch(() => {});
        await bus.publish('test.happened', { n: 5 });
        await inside();
      });
      expect(rowsInside).toEqual([0, 0, 0, 0]); // nothing written before the transaction's end
      expect(await countOutbox()).toBe(before + 5);
      const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db, transport });
      try {
        await waitFor(() => got.length === 5);
      } finally {
        await relay.close();
      }
      expect(got).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await bus.close({ timeout_ms: 200 });
      await transport.close();
    }
  });

  it("a row's created_at is when it was written (with COMMIT), not when its transaction began", async () => {
    const transport = createRedisStreamsTransport(
      { prefix: `${redis.prefix}written-at:` },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
    try {
      let began = 0;
      let lastStatement = 0;
      let id = '';
      await db.transaction(async (tx) => {
        const [start] = await tx<{ began: Date }[]>`select now() as began`;
        began = start?.began.getTime() as number;
        ({ id } = await bus.publish('test.happened', { n: 1 }));
        // the transaction's work after the publish: the row is written after all of it
        await tx`select pg_sleep(0.05)`;
        const [at] = await tx<{ at: Date }[]>`select clock_timestamp() as at`;
        lastStatement = at?.at.getTime() as number;
      });
      const [row] = await db.sql<{ created_at: Date }[]>`select created_at from event_outbox where id = ${id}`;
      expect(lastStatement - began).toBeGreaterThanOrEqual(50);
      expect(row?.created_at.getTime()).toBeGreaterThanOrEqual(lastStatement);
      await db.sql`delete from event_outbox where id = ${id}`; // no relay runs here: the next tests count rows
    } finally {
      await bus.close({ timeout_ms: 200 });
      await transport.close();
    }
  });

  it('{ db } names the database to join on a bus created without one (what the managers do)', async () => {
    const transport = createRedisStreamsTransport(
      { prefix: `${redis.prefix}named:` },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS });
    const before = await countOutbox();
    try {
      await expect(
        db.transaction(async () => {
          await bus.publish('test.happened', { n: 1 }, { db });
          throw new Error('business change failed');
        }),
      ).rejects.toThrow('business change failed');
      await db.transaction(() => bus.publish('test.happened', { n: 2 }, { db }));
      expect(await countOutbox()).toBe(before + 1); // only the committed one, and not appended directly
      expect(await transport.streamLength('test.happened')).toBe(0);
      await db.transaction(() => bus.publish('test.happened', { n: 3 })); // no db anywhere: direct
      expect(await transport.streamLength('test.happened')).toBe(1);
      expect(await countOutbox()).toBe(before + 1);
      // the committed row is relayed like any other (and leaves nothing for the next test)
      const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db, transport });
      try {
        await waitFor(async () => (await countUnrelayed()) === 0);
      } finally {
        await relay.close();
      }
      expect(await transport.streamLength('test.happened')).toBe(2);
    } finally {
      await bus.close({ timeout_ms: 200 });
      await transport.close();
    }
  });

  it('still honours the deprecated { tx } option, on a bus without db too', async () => {
    const prefix = `${redis.prefix}legacy:`;
    const transport = createRedisStreamsTransport(
      { prefix },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS });
    const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db, transport });
    try {
      await expect(
        db.transaction(async (tx) => {
          await bus.publish('test.happened', { n: 1 }, { tx });
          throw new Error('business change failed');
        }),
      ).rejects.toThrow('business change failed');
      const { id } = await db.transaction(async (tx) => {
        const event = await bus.publish('test.happened', { n: 2 }, { tx });
        expect(await transport.streamLength('test.happened')).toBe(0); // not before commit
        return event;
      });
      await waitFor(async () => (await countUnrelayed()) === 0);
      const [row] = await db.sql<{ id: string }[]>`select id::text from event_outbox where id = ${id}`;
      expect(row?.id).toBe(id);
      expect(await transport.streamLength('test.happened')).toBe(1);
    } finally {
      await relay.close();
      await bus.close({ timeout_ms: 200 });
      await transport.close();
    }
  });

  it('under steady traffic its passes share a transaction: each event delivered at once, the marks committed later together', async () => {
    const prefix = `${redis.prefix}held:`;
    const transport = createRedisStreamsTransport(
      { prefix },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
    // the relay's own transactions, counted (a poll far beyond the test: only NOTIFY wakes it;
    // a hold far beyond one event's round, so that a busy machine cannot split them)
    let relayTransactions = 0;
    const counted: Database = {
      ...db,
      transaction: (fn) => {
        relayTransactions++;
        return db.transaction(fn);
      },
    };
    const relay = createOutboxRelay({ outbox_poll_ms: 60_000, outbox_hold_ms: 1_000 }, { db: counted, transport });
    const got: number[] = [];
    let arrived: (() => void) | undefined;
    bus.subscribe('held-reader', 'test.happened', (e) => {
      got.push(e.payload.n);
      arrived?.();
    });
    try {
      await waitFor(() => relayTransactions > 0); // its first pass: LISTEN is open
      const before = relayTransactions;
      // 20 events, each committed alone and published only once the one before was delivered:
      // every one needs a pass of its own
      for (let n = 0; n < 20; n++) {
        const delivered = new Promise<void>((resolve) => {
          arrived = resolve;
        });
        await db.transaction(() => bus.publish('test.happened', { n }));
        await delivered;
      }
      expect(got).toEqual(Array.from({ length: 20 }, (_, n) => n));
      // 20 passes in a few transactions (each lives at most a second)
      expect(relayTransactions - before).toBeLessThan(10);
      // and the marks commit once the traffic stops
      await waitFor(async () => (await countUnrelayed()) === 0);
    } finally {
      await relay.close();
      await bus.close({ timeout_ms: 200 });
      await transport.close();
    }
  });

  it('is woken by LISTEN where it can (behind a pooler: over direct_url), else polls; it says which at start', async () => {
    const lines: Array<{ msg: string; listen?: string }> = [];
    const destination = new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const logger = createLogger({ destination });
    const transport = createRedisStreamsTransport(
      { prefix: `${redis.prefix}wake:` },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
    // a poll far beyond the wait below: delivery in time means NOTIFY woke the relay
    const listening = createOutboxRelay({ outbox_poll_ms: 600_000 }, { db, transport, logger });
    const noDirect = createPostgres({ url: testDb.url, pooler: 'transaction' });
    try {
      await waitFor(() => lines.some((line) => line.msg.startsWith('outbox relay: woken by LISTEN')));
      expect(lines.find((line) => line.msg.startsWith('outbox relay'))?.listen).toBe(
        testDb.pooler ? 'direct_url' : 'pool',
      );
      const drained = async () => {
        const [row] = await db.sql<
          { n: number }[]
        >`select count(*)::int as n from event_outbox where published_at is null`;
        return row?.n === 0;
      };
      // after its first pass, so that only a NOTIFY can bring the next event in time
      await waitFor(() => listening.status().last_ok_at !== undefined);
      await db.transaction(() => bus.publish('test.happened', { n: 1 }));
      await waitFor(drained, 5_000);
      await listening.close();

      // a transaction pooler without a direct URL: no LISTEN, the relay polls and says so
      const polling = createOutboxRelay({ outbox_poll_ms: 50 }, { db: noDirect, transport, logger });
      try {
        await waitFor(() =>
          lines.some((line) => line.msg.startsWith('outbox relay: polling only (a transaction pooler')),
        );
        await db.transaction(() => bus.publish('test.happened', { n: 2 }));
        await waitFor(drained, 5_000);
      } finally {
        await polling.close();
      }
    } finally {
      await listening.close();
      await noDirect.close();
      await bus.close({ timeout_ms: 200 });
      await transport.close();
    }
  });

  it('close({ timeout_ms }) does not wait past its deadline for a pass stuck on the transport', async () => {
    const real = createRedisStreamsTransport(
      { prefix: `${redis.prefix}stuck:` },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport: real, events: CONFORMANCE_EVENTS, db });
    let appendsAsked = 0;
    let appendsSettled = 0;
    // a transport whose appends answer only after 2 s (a Redis that hangs until the command
    // timeout): the relay's pass is stuck that long, holding its transaction
    const hanging = {
      ...real,
      append: () => {
        appendsAsked++;
        return new Promise<never>((_, reject) =>
          setTimeout(() => {
            appendsSettled++;
            reject(new Error('command timed out'));
          }, 2_000),
        );
      },
    } as typeof real;
    const relay = createOutboxRelay({ outbox_poll_ms: 20 }, { db, transport: hanging });
    try {
      await db.transaction(() => bus.publish('test.happened', { n: 7 }));
      await waitFor(() => appendsAsked > 0); // the fault: a pass is in progress, stuck on append
      const started = performance.now();
      await relay.close({ timeout_ms: 200 });
      const close_ms = performance.now() - started;
      expect(close_ms).toBeGreaterThanOrEqual(150);
      // it did not wait for the stuck append (which answers 2 s after it was asked)
      expect(appendsSettled).toBe(0);
      expect(relay.status().running).toBe(false);
    } finally {
      await relay.close();
      await waitFor(() => appendsSettled === appendsAsked); // the pass ends and releases its rows
      await bus.close();
      await real.close();
      await db.sql`delete from event_outbox where published_at is null`;
    }
  });

  it('an idle relay polling for a while leaves no listeners behind (no MaxListenersExceededWarning)', async () => {
    const transport = createRedisStreamsTransport(
      { prefix: `${redis.prefix}idle:` },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const relay = createOutboxRelay({ outbox_poll_ms: 10 }, { db, transport });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const [before] = await db.sql<{ n: number }[]>`select count(*)::int as n from event_outbox`;
      await new Promise((resolve) => setTimeout(resolve, 400)); // ~40 polls, well past 10 listeners
      const [after] = await db.sql<{ n: number }[]>`select count(*)::int as n from event_outbox`;
      expect(after?.n).toBe(before?.n); // it only polled
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await relay.close();
      await transport.close();
    }
  });

  it('one relay at a time: while another holds the relay lock, a pass reads and moves nothing', async () => {
    const prefix = `${redis.prefix}lock:`;
    const transport = createRedisStreamsTransport(
      { prefix },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
    // another relay's pass, standing in: the same transaction-scoped lock, held in an open
    // transaction of another connection (through a transaction pooler too: an open transaction
    // keeps its server session; a session-level lock would stay on a session the pool hands on)
    const other = await db.sql.reserve();
    await other`begin`;
    await other`select pg_advisory_xact_lock(hashtext('diana.outbox.relay'))`;
    const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db, transport });
    try {
      await db.transaction(async () => {
        for (let n = 0; n < 3; n++) await bus.publish('test.happened', { n });
      });
      expect(await relay.drain()).toBe(0);
      expect(await countUnrelayed()).toBe(3);
      expect(await transport.streamLength('test.happened')).toBe(0);
      await other`commit`;
      await waitFor(async () => (await countUnrelayed()) === 0);
      expect(await transport.streamLength('test.happened')).toBe(3);
    } finally {
      await other`rollback`.catch(() => {}); // after a failed assertion the transaction is still open
      other.release();
      await relay.close();
      await bus.close({ timeout_ms: 200 });
      await transport.close();
    }
  });

  it('a relay killed between append and mark yields exactly one stream entry per event', async () => {
    const prefix = `${redis.prefix}crash:`;
    const transport = createRedisStreamsTransport(
      { prefix },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
    const ids: string[] = [];
    await db.transaction(async () => {
      for (let n = 0; n < 20; n++) ids.push((await bus.publish('test.happened', { n })).id);
    });
    const worker = startWorker(fileURLToPath(new URL('./fixtures/relay-crash.ts', import.meta.url)));
    let appended: Awaited<ReturnType<typeof worker.waitFor>>;
    try {
      worker.send({ type: 'config', db_url: testDb.url, redis_port: redisPort, prefix });
      appended = await worker.waitFor('appended');
    } finally {
      await worker.kill('SIGKILL'); // killed between append and mark, or when the wait failed
    }
    expect(appended.count).toBe(20);
    expect(await transport.streamLength('test.happened')).toBe(20); // appended, never marked
    const [unmarked] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from event_outbox where published_at is null`;
    expect(unmarked?.n).toBe(20);

    const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db, transport });
    try {
      await waitFor(async () => {
        const [row] = await db.sql<
          { n: number }[]
        >`select count(*)::int as n from event_outbox where published_at is null`;
        return row?.n === 0;
      });
      const client = new Redis(redis.url);
      const entries = (await client.xrange(`${prefix}{test.happened}`, '-', '+')) as Array<[string, string[]]>;
      client.disconnect();
      const eventIds = entries.map(([, fields]) => JSON.parse(fields[1] ?? '{}').id);
      expect(eventIds.sort()).toEqual([...ids].sort());
    } finally {
      await relay.close();
      await bus.close({ timeout_ms: 200 });
      await transport.close();
    }
  });

  it('accepts outbox publishes while Redis is down and drains them when it is back', async () => {
    const server = await startRedis();
    const transport = createRedisStreamsTransport(
      { prefix: 'down:', command_timeout_ms: 300 },
      { connector: createRedisConnector({ options: { port: server.port } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
    const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db, transport });
    try {
      await server.kill('SIGKILL');
      const direct = await bus.publish('test.happened', { n: -1 }).catch((e: unknown) => e);
      expect((direct as { code?: string }).code).toBe('E_BUS_PUBLISH_FAILED'); // the outage is real
      await db.transaction(async () => {
        for (let n = 0; n < 5; n++) await bus.publish('test.happened', { n });
      });
      await server.restart();
      await waitFor(async () => (await transport.streamLength('test.happened').catch(() => 0)) === 5, 15_000);
    } finally {
      await relay.close();
      await bus.close({ timeout_ms: 200 });
      await transport.close();
      await server.stop();
    }
  });
  it('refuses a key holding U+0000 at publish, in a transaction as directly: nothing written, the commit goes on', async () => {
    const prefix = `${redis.prefix}nul-key:`;
    const transport = createRedisStreamsTransport(
      { prefix },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
    const key = 'a\u0000b';
    const refused = expect.objectContaining({ code: 'E_BUS_EVENT_SCHEMA' });
    try {
      const before = await countOutbox();
      // PostgreSQL's text cannot hold U+0000: it was taken here and failed the caller's COMMIT
      await db.transaction(async () => {
        await expect(bus.publish('test.keyed', { key, seq: 1 }, { key })).rejects.toEqual(refused);
        await bus.publish('test.keyed', { key: 'b', seq: 2 }, { key: 'b' });
      });
      expect(await countOutbox()).toBe(before + 1);
      await expect(bus.publish('test.keyed', { key, seq: 3 }, { key })).rejects.toEqual(refused);
      expect(await transport.streamLength('test.keyed')).toBe(0);
    } finally {
      await bus.close();
      await transport.close();
    }
  });
});

describe('inbox', () => {
  it('runs a handler effect once per group and event, however often it is delivered', async () => {
    await db.sql`create table inbox_effects (event_id uuid, n int)`;
    const inbox = createInbox(db);
    const event = { id: '01a216ab-59eb-708f-ab67-1b00b4d4304f' };
    const results = await Promise.all(
      Array.from({ length: 5 }, () =>
        inbox.process('gamification', event, async () => {
          await db.session()`insert into inbox_effects values (${event.id}, 1)`;
          return 'paid';
        }),
      ),
    );
    expect(results.filter((r) => r.processed)).toHaveLength(1);
    expect((await inbox.process('other-group', event, async () => 'also')).processed).toBe(true);
    const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from inbox_effects`;
    expect(row?.n).toBe(1);
  });

  it('processAtCommit records the event with COMMIT: a duplicate runs and rolls back whole, nothing of it stays', async () => {
    await db.sql`create table inbox_commit_effects (event_id uuid, n int)`;
    const inbox = createInbox(db);
    const event = { id: '01a216ab-59eb-708f-ab67-1b00b4d43050' };
    let ran = 0;
    const committed: number[] = [];
    // five deliveries of one event behind a barrier: all run their handler before any commits
    let open!: () => void;
    const barrier = new Promise<void>((resolve) => {
      open = resolve;
    });
    let arrived = 0;
    const deliver = (n: number) =>
      inbox.processAtCommit('gamification', event, async () => {
        ran++;
        await db.session()`insert into inbox_commit_effects values (${event.id}, ${n})`;
        await db.onCommit(() => void committed.push(n));
        if (++arrived === 5) open();
        await barrier;
        return n;
      });
    const results = await Promise.all([1, 2, 3, 4, 5].map(deliver));
    expect(ran).toBe(5); // contention happened: every delivery ran before the first committed
    const winners = results.filter((r) => r.processed);
    expect(winners).toHaveLength(1);
    const rows = await db.sql<{ n: number }[]>`select n from inbox_commit_effects`;
    expect(rows.map((r) => r.n)).toEqual([winners[0]?.result]);
    expect(committed).toEqual([winners[0]?.result]);
    // a later redelivery: runs, rolls back, is told it was a duplicate
    const late = await inbox.processAtCommit('gamification', event, async () => {
      await db.session()`insert into inbox_commit_effects values (${event.id}, 9)`;
    });
    expect(late).toEqual({ processed: false });
    expect(await db.sql`select n from inbox_commit_effects`).toHaveLength(1);
    // another group has its own record
    expect((await inbox.processAtCommit('other-group', event, async () => 'also')).processed).toBe(true);
  });

  it('processAtCommit rethrows a failure that is not the inbox row', async () => {
    const inbox = createInbox(db);
    const event = { id: '01a216ab-59eb-708f-ab67-1b00b4d43051' };
    await expect(
      inbox.processAtCommit('gamification', event, async () => {
        await db.session()`select 1 / 0`;
      }),
    ).rejects.toMatchObject({ code: 'E_DB_QUERY' });
    // nothing recorded: a retry runs it
    expect((await inbox.processAtCommit('gamification', event, async () => 'ok')).processed).toBe(true);
  });
});
