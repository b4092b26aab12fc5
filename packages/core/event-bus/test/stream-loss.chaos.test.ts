// A Redis that comes back without its data (restarted without AOF, or flushed), or with an older
// snapshot of it, took with it the entries the outbox relay had appended and no group had handled
// yet; their rows were already marked. The relay finds such a stream (its keep mark gone and its
// history empty, or its mark below the highest id the relay's appends got) at its next append or
// its periodic check, and relays the recent rows of its type again: each group's inbox skips what
// it had handled. Before, those events were lost for good.
import { Writable } from 'node:stream';
import { createPostgres, type Database, DB_MIGRATIONS, migrate } from '@diana/db';
import { createRedisConnector } from '@diana/redis';
import { startRedis, until, useTestDatabase } from '@diana/test-services';
import { createLogger, newId } from '@diana/utils';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { createInbox } from '../src/inbox.js';
import { partitionOf } from '../src/partitions.js';
import { createOutboxRelay, EVENT_BUS_MIGRATIONS } from '../src/relay.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/testing.js';

const testDb = await useTestDatabase('stream_loss');
let db: Database;
beforeAll(async () => {
  db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS]);
  await db.sql`create table paid (event_id uuid primary key, n int not null)`;
});
afterAll(() => db.close());

/** Fails the test unless `check` holds within 20 s. */
const waitFor = async (check: () => Promise<boolean> | boolean) => expect(await until(check, 20_000)).toBe(true);
const paid = async () => (await db.sql<{ n: number }[]>`select n from paid order by n`).map((row) => row.n);

/** A logger whose lines the test reads. */
function capturedLogger() {
  const lines: Array<{ level: string; msg: string; type?: string; rows?: number }> = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  });
  return { lines, logger };
}

/** A bus, its relay and a paying group on a private Redis; the handler waits while `held`. */
async function setUp(
  label: string,
  options: { replay_ms?: number; check_ms?: number; server?: Awaited<ReturnType<typeof startRedis>> } = {},
) {
  // no AOF: a restart comes back empty (or with the last SAVE); a given server is the caller's to stop
  const server = options.server ?? (await startRedis());
  const { relay, transport, lines, checks, config } = relayOn(server.port, `${label}:`, {
    config: {
      retention_interval_ms: options.check_ms ?? 600_000,
      ...(options.replay_ms === undefined ? {} : { lost_stream_replay_ms: options.replay_ms }),
    },
  });
  const bus = createEventBus(config, { transport, events: CONFORMANCE_EVENTS, db });
  const inbox = createInbox(db);
  let release = () => {};
  let held: Promise<void> = Promise.resolve();
  const hold = () => {
    held = new Promise<void>((resolve) => {
      release = resolve;
    });
  };
  let started = 0;
  bus.subscribe(
    'pay',
    'test.happened',
    async (event) => {
      started++;
      await held;
      await inbox.process('pay', event, async () => {
        await db.session()`insert into paid values (${event.id}, ${event.payload.n})`;
      });
    },
    { concurrency: 1 },
  );
  await waitFor(async () => (await bus.health()).groups.length === 1);
  const publish = (from: number, to: number) =>
    db.transaction(async () => {
      for (let n = from; n < to; n++) await bus.publish('test.happened', { n });
    });
  const admin = new Redis(server.port);
  const streamKey = `${label}:{test.happened}`;
  return {
    server,
    lines,
    bus,
    relay,
    hold,
    release: () => release(),
    started: () => started,
    checks,
    publish,
    admin,
    streamKey,
    /** The process ends (its handler still held: what it had not paid stays unpaid); Redis runs on. */
    async crash() {
      admin.disconnect();
      await relay.close();
      await bus.close({ timeout_ms: 500 });
      await transport.close();
    },
    async close() {
      release();
      await this.crash();
      if (!options.server) await server.stop();
    },
  };
}

/**
 * Event `from` handled, then Redis saves its data (an RDB snapshot: the stream with one entry, and
 * its mark), then 12 more are relayed, marked, and wait behind the held handler.
 */
async function savedThenTwelve(t: Awaited<ReturnType<typeof setUp>>, from: number) {
  await t.publish(from, from + 1);
  await waitFor(async () => (await paid()).length === 1);
  await t.admin.save();
  t.hold();
  await t.publish(from + 1, from + 13);
  await waitFor(async () => Number(await t.admin.xlen(t.streamKey)) === 13 && t.started() === 2);
  const unmarked = async () =>
    (await db.sql<{ n: number }[]>`select count(*)::int as n from event_outbox where published_at is null`)[0]?.n;
  await waitFor(async () => (await unmarked()) === 0);
}

/** The fault: Redis dies and comes back with the snapshot — the stream's one entry and its keep mark, nothing after. */
async function backFromSnapshot(t: Awaited<ReturnType<typeof setUp>>) {
  await t.server.kill('SIGKILL');
  await t.server.restart();
  const fresh = new Redis(t.server.port);
  expect(Number(await fresh.xlen(t.streamKey))).toBe(1);
  expect(await fresh.get(`${t.streamKey}:keep`)).not.toBeNull();
  fresh.disconnect();
}

/** A relay alone (no bus, no group) on `port`: the error lines it said about lost streams, its start checks. */
function relayOn(
  port: number,
  prefix: string,
  options: { partitions?: Record<string, number>; config?: Record<string, number> } = {},
) {
  const { lines, logger } = capturedLogger();
  const transport = createRedisStreamsTransport(
    { prefix, command_timeout_ms: 500, ...(options.partitions ? { partitions: options.partitions } : {}) },
    { connector: createRedisConnector({ options: { port } }) },
  );
  let checks = 0;
  const lostStreams = transport.lostStreams?.bind(transport);
  transport.lostStreams = async (streams, witnesses) => {
    checks++;
    return (await lostStreams?.(streams, witnesses)) ?? [];
  };
  const config = { ...CONFORMANCE_CONFIG, outbox_poll_ms: 50, retention_interval_ms: 600_000, ...options.config };
  const relay = createOutboxRelay(config, { db, transport, logger });
  return {
    relay,
    transport,
    config,
    lines,
    lost: () => lines.filter((line) => line.msg.startsWith('outbox relay: Redis lost this stream')),
    // the checks (periodic and at start) made so far
    checks: () => checks,
    async close() {
      await relay.close();
      await transport.close();
    },
  };
}
/** `n` outbox rows of `type` (keys from `key`), as a publish writes them; resolves once the relay has marked them. */
async function relayed(type: string, n: number, key: (i: number) => string | null = () => null): Promise<string[]> {
  const ids = Array.from({ length: n }, () => newId());
  await db.sql`
    insert into event_outbox (id, type, key, envelope)
    select * from unnest(${ids}::uuid[], ${ids.map(() => type)}::text[], ${ids.map((_, i) => key(i))}::text[],
                         ${ids.map((id) => JSON.stringify({ id }))}::text[])`;
  await waitFor(async () => {
    const [row] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from event_outbox where id = any(${ids}::uuid[]) and published_at is null`;
    return row?.n === 0;
  });
  return ids;
}
const republished = async (type: string, since: Date) =>
  (
    await db.sql<
      { n: number }[]
    >`select count(*)::int as n from event_outbox where type = ${type} and published_at > ${since}`
  )[0]?.n;

describe('a stream Redis lost', () => {
  it('restarted empty with 12 events relayed and not handled: the next append relays them again, each paid once', async () => {
    await db.sql`truncate paid`;
    const t = await setUp('restart');
    try {
      // a first event handled: the stream is known to the relay
      await t.publish(0, 1);
      await waitFor(async () => (await paid()).length === 1);
      // the next 12 are relayed and wait behind the held handler (one of them in it)
      t.hold();
      await t.publish(1, 13);
      await waitFor(async () => Number(await t.admin.xlen(t.streamKey)) >= 12 && t.started() === 2);
      // every row marked (the relay's transaction may hold the marks a moment): Redis had them
      const marked = async () =>
        (await db.sql<{ n: number }[]>`select count(*)::int as n from event_outbox where published_at is not null`)[0]
          ?.n;
      await waitFor(async () => (await marked()) === 13);
      // the fault: Redis dies and comes back without its data
      const before = await t.server.runId();
      await t.server.kill('SIGKILL');
      await t.server.restart();
      expect(await t.server.runId()).not.toBe(before);
      const fresh = new Redis(t.server.port);
      expect(await fresh.exists(t.streamKey)).toBe(0);
      fresh.disconnect();
      t.release();
      // a new event: its append meets the stream without its history, and the relay sends the
      // lost ones again
      await t.publish(13, 14);
      await waitFor(async () => (await paid()).length === 14);
      expect(await paid()).toEqual(Array.from({ length: 14 }, (_, n) => n));
      const said = t.lines.filter((line) => line.msg.startsWith('outbox relay: Redis lost this stream'));
      expect(said).toEqual([expect.objectContaining({ level: 'error', type: 'test.happened', rows: 13 })]);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('flushed while nothing of its type is published: the periodic check finds it and relays the rows again', async () => {
    await db.sql`truncate paid`;
    const t = await setUp('flush', { check_ms: 200 });
    try {
      await t.publish(100, 101);
      await waitFor(async () => (await paid()).length === 1);
      t.hold();
      await t.publish(101, 106);
      await waitFor(async () => Number(await t.admin.xlen(t.streamKey)) >= 5 && t.started() === 2);
      await t.admin.flushdb();
      expect(await t.admin.exists(t.streamKey)).toBe(0);
      t.release();
      // no publish after the flush: the check alone brings them back
      await waitFor(async () => (await paid()).length === 6);
      expect(await paid()).toEqual([100, 101, 102, 103, 104, 105]);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('restarted from an older snapshot, its last 12 entries lost: the next append relays them again, each paid once', async () => {
    await db.sql`truncate paid`;
    const t = await setUp('snapshot');
    try {
      await savedThenTwelve(t, 500);
      // the fault: Redis dies and comes back with the snapshot — the stream and its mark, without
      // the last 12 entries (no empty stream here: the mark alone tells)
      await backFromSnapshot(t);
      t.release();
      // before: the mark said all was well, and 501..511 were never paid
      await t.publish(513, 514);
      await waitFor(async () => (await paid()).length === 14);
      expect(await paid()).toEqual(Array.from({ length: 14 }, (_, n) => 500 + n));
      const said = t.lines.filter((line) => line.msg.startsWith('outbox relay: Redis lost this stream'));
      expect(said).toEqual([expect.objectContaining({ level: 'error', type: 'test.happened' })]);
    } finally {
      await t.close();
    }
  }, 60_000);

  it('restarted from an older snapshot while nothing of its type is published: the periodic check relays the rows again', async () => {
    await db.sql`truncate paid`;
    const t = await setUp('snapshot-check', { check_ms: 200 });
    try {
      await t.publish(600, 601);
      await waitFor(async () => (await paid()).length === 1);
      await t.admin.save();
      t.hold();
      await t.publish(601, 606);
      await waitFor(async () => Number(await t.admin.xlen(t.streamKey)) === 6 && t.started() === 2);
      const before = await t.server.runId();
      await t.server.kill('SIGKILL');
      await t.server.restart();
      expect(await t.server.runId()).not.toBe(before);
      // the stream is not as it was: the snapshot's one entry, or more once the check (every
      // 200 ms) has already appended the type's recent rows again
      const fresh = new Redis(t.server.port);
      expect(Number(await fresh.xlen(t.streamKey))).not.toBe(6);
      fresh.disconnect();
      t.release();
      // no publish after the restart: the check alone brings them back
      await waitFor(async () => (await paid()).length === 6);
      expect(await paid()).toEqual([600, 601, 602, 603, 604, 605]);
    } finally {
      await t.close();
    }
  }, 60_000);

  it("a host reboot: Redis back from an older snapshot, the relay's processes new (no floor of their own): one of them finds it before its first pass and relays the rows again", async () => {
    await db.sql`truncate paid`;
    const t = await setUp('reboot');
    const after: Array<Awaited<ReturnType<typeof setUp>>> = [];
    try {
      await savedThenTwelve(t, 700);
      // the host goes down: the process (and the floor it kept) and Redis, which comes back from
      // its snapshot — the stream's one entry and its keep mark, nothing after them
      await t.crash();
      await backFromSnapshot(t);
      // two new processes start together; before, neither had anything to compare the mark with,
      // and 701..712 were never paid
      after.push(
        ...(await Promise.all([setUp('reboot', { server: t.server }), setUp('reboot', { server: t.server })])),
      );
      await waitFor(async () => (await paid()).length === 13);
      expect(await paid()).toEqual(Array.from({ length: 13 }, (_, n) => 700 + n));
      // both looked (the checks before their first pass), one was told
      await waitFor(() => after.every((p) => p.checks() >= 1));
      const said = after.flatMap((p) =>
        p.lines.filter((line) => line.msg.startsWith('outbox relay: Redis lost this stream')),
      );
      expect(said).toEqual([expect.objectContaining({ level: 'error', type: 'test.happened' })]);
    } finally {
      for (const p of after) await p.close();
      await t.close();
    }
  }, 60_000);

  it('nothing lost, but a false alarm each way the witnesses could mislead: none is taken for a loss', async () => {
    const server = await startRedis();
    const admin = new Redis(server.port);
    const open: Array<ReturnType<typeof relayOn>> = [];
    const start = (...args: Parameters<typeof relayOn>) => {
      const r = relayOn(...args);
      open.push(r);
      return r;
    };
    try {
      // a type's partitions lowered (4 → 2), every row relayed before: a witness's marker sits on
      // the partition it was appended to, not on the one it maps to now — before, taken for lost
      let r = start(server.port, 'parts:', { partitions: { 'w.parts': 4 } });
      await relayed('w.parts', 40, (i) => `k${i}`);
      await r.close();
      const lowered = new Date();
      r = start(server.port, 'parts:', { partitions: { 'w.parts': 2 } });
      await waitFor(() => r.checks() >= 1 && r.relay.status().last_ok_at !== undefined);
      expect(r.lost()).toEqual([]);
      expect(await republished('w.parts', lowered)).toBe(0);
      await r.close();

      // a prefix changed and changed back: the newest witness went to the other prefix's stream,
      // where its marker is — before, taken for a loss of this one
      r = start(server.port, 'one:');
      await relayed('w.prefix', 3);
      await r.close();
      r = start(server.port, 'two:');
      await relayed('w.prefix', 3);
      await r.close();
      const back = new Date();
      r = start(server.port, 'one:');
      await waitFor(() => r.checks() >= 1 && r.relay.status().last_ok_at !== undefined);
      expect(r.lost()).toEqual([]);
      expect(await republished('w.prefix', back)).toBe(0);
      await r.close();

      // with lost_stream_replay_ms 0 nothing is relayed again, so the rows stay marked: before, every
      // start after a real loss said it again (three starts, three error lines)
      const zero = { lost_stream_replay_ms: 0 };
      r = start(server.port, 'zero:', { config: zero });
      await relayed('w.zero', 1);
      await admin.save();
      await relayed('w.zero', 3);
      await r.close();
      await server.kill('SIGKILL');
      await server.restart();
      expect(Number(await admin.xlen('zero:{w.zero}'))).toBe(1); // the fault: the last 3 gone
      const starts = [];
      for (let i = 0; i < 3; i++) {
        const again = start(server.port, 'zero:', { config: zero });
        await waitFor(() => again.relay.status().last_ok_at !== undefined);
        starts.push(again.lost().length);
        await again.close();
      }
      expect(starts.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(1);

      // rows relayed again after a loss keep their first markers (and those markers' time) but get a
      // new published_at: before, one of them was the newest witness of a partition that lost
      // nothing, and once its marker expired the next plain restart took that partition for lost
      const short = { dedupe_ttl_ms: 3_000, lost_stream_replay_ms: 60_000 };
      const parts = { 'w.short': 2 };
      const keyOf = (p: number) =>
        `k${Array.from({ length: 64 }, (_, i) => i).find((i) => partitionOf(`k${i}`, 2) === p)}`;
      r = start(server.port, 'short:', { config: short, partitions: parts });
      await relayed('w.short', 3, () => keyOf(0));
      const kept = await relayed('w.short', 3, () => keyOf(1));
      await admin.save();
      // partition 1's markers near their end; then 3 more on partition 0, lost with the snapshot
      const marker = `short:{w.short#1}:seen:${kept[2]}`;
      await waitFor(async () => {
        const left = await admin.pttl(marker);
        return left > 0 && left < 1_000;
      });
      await relayed('w.short', 3, () => keyOf(0));
      await r.close();
      await server.kill('SIGKILL');
      await server.restart();
      r = start(server.port, 'short:', { config: short, partitions: parts });
      await waitFor(async () => r.lost().length === 1 && (await republished('w.short', lowered)) === 9);
      await r.close();
      // partition 1's markers expire (nothing lost since); the next start looks
      await waitFor(async () => (await admin.exists(marker)) === 0);
      const since = new Date();
      r = start(server.port, 'short:', { config: short, partitions: parts });
      await waitFor(() => r.checks() >= 1 && r.relay.status().last_ok_at !== undefined);
      expect(r.lost()).toEqual([]);
      expect(await republished('w.short', since)).toBe(0);
    } finally {
      for (const r of open) await r.close();
      admin.disconnect();
      await server.stop();
    }
  }, 90_000);

  it("a stream the relay's records missed (a pass that failed after its appends) that lost its last entries: found by its witnesses at the next start", async () => {
    const server = await startRedis();
    const admin = new Redis(server.port);
    const r = relayOn(server.port, 'unrec:');
    let after: ReturnType<typeof relayOn> | undefined;
    try {
      await relayed('w.unrec', 3);
      // the record a failed pass would not have committed
      await db.sql`delete from event_relay_streams where stream = 'unrec:{w.unrec}'`;
      await admin.save();
      await relayed('w.unrec', 5);
      await r.close();
      await server.kill('SIGKILL');
      await server.restart();
      expect(Number(await admin.xlen('unrec:{w.unrec}'))).toBe(3); // the fault: the last 5 gone
      const since = new Date();
      after = relayOn(server.port, 'unrec:');
      // before: nothing looked at it, and the 5 were lost without a line
      await waitFor(async () => Number(await admin.xlen('unrec:{w.unrec}')) === 8);
      expect(after.lost()).toEqual([expect.objectContaining({ level: 'error', type: 'w.unrec' })]);
      await waitFor(async () => (await republished('w.unrec', since)) === 8); // marked again once its pass commits
      expect((await db.sql`select 1 from event_relay_streams where stream = 'unrec:{w.unrec}'`).length).toBe(1);
    } finally {
      await after?.close();
      await r.close();
      admin.disconnect();
      await server.stop();
    }
  }, 60_000);

  it('two processes relaying to a stream restored from an older snapshot: one of them is told, once', async () => {
    const server = await startRedis();
    const transportOf = () =>
      createRedisStreamsTransport(
        { prefix: 'two:', command_timeout_ms: 500 },
        { connector: createRedisConnector({ options: { port: server.port } }) },
      );
    const a = transportOf();
    const b = transportOf();
    const admin = new Redis(server.port);
    const stream = 'two:{test.happened}';
    try {
      await a.append('test.happened', 'e0', { dedupe_id: 'd0' });
      await admin.save();
      // after the snapshot each relays one more: b's floor lies above a's
      await a.append('test.happened', 'e1', { dedupe_id: 'd1' });
      await b.append('test.happened', 'e2', { dedupe_id: 'd2' });
      await server.kill('SIGKILL');
      await server.restart();
      expect(Number(await admin.xlen(stream))).toBe(1); // the fault: back from the snapshot
      // each process's periodic check looks: before, a was told and set the mark to its own
      // floor, below b's, and b was told too — two replays of one loss, two error lines
      const check = async (t: typeof a) => (await t.lostStreams?.([stream])) ?? [];
      expect([...(await check(a)), ...(await check(b))]).toEqual([stream]);
      expect([...(await check(b)), ...(await check(a))]).toEqual([]);
      // a later relayed append is not taken for a loss either
      const told2: string[] = [];
      await b.append('test.happened', 'e3', { dedupe_id: 'd3', on_stream_unmarked: (s) => told2.push(s) });
      expect(told2).toEqual([]);
    } finally {
      admin.disconnect();
      await Promise.all([a.close(), b.close()]);
      await server.stop();
    }
  }, 60_000);

  it('a stream appended to before keep marks existed (an upgrade) is recorded, not replayed; lost after that, it is', async () => {
    await db.sql`truncate paid`;
    const t = await setUp('upgrade');
    try {
      await t.publish(300, 302);
      await waitFor(async () => (await paid()).length === 2);
      // as a release before marks left it: history, no mark, not recorded
      await t.admin.del(`${t.streamKey}:keep`);
      await db.sql`delete from event_relay_streams where stream = ${t.streamKey}`;
      const entries = Number(await t.admin.xlen(t.streamKey));
      await t.publish(302, 303);
      await waitFor(async () => (await paid()).length === 3);
      expect(Number(await t.admin.xlen(t.streamKey))).toBe(entries + 1); // nothing relayed again
      // recorded in the relay's pass transaction, which may hold a moment longer
      await waitFor(
        async () => (await db.sql`select 1 from event_relay_streams where stream = ${t.streamKey}`).length === 1,
      );
      expect(await t.admin.get(`${t.streamKey}:keep`)).toMatch(/^\d+-\d+$/); // the last entry's id
      // now known: a flush loses it, and the next append brings the recent rows back
      t.hold();
      await t.publish(303, 305);
      await waitFor(async () => t.started() === 4);
      await t.admin.flushdb();
      t.release();
      await t.publish(305, 306);
      await waitFor(async () => (await paid()).length === 6);
      expect(await paid()).toEqual([300, 301, 302, 303, 304, 305]);
      expect(t.lines.filter((line) => line.msg.startsWith('outbox relay: Redis lost this stream'))).toHaveLength(1);
    } finally {
      await t.close();
    }
  }, 60_000);

  it("the periodic check leaves another prefix's streams alone (a prefix used before): no replay, no mark written there", async () => {
    await db.sql`truncate paid`;
    const t = await setUp('own-prefix', { check_ms: 100 });
    try {
      // a stream of an older prefix, recorded and gone from Redis
      await db.sql`insert into event_relay_streams (stream, type) values ('old-prefix:{test.happened}', 'test.happened')
                   on conflict do nothing`;
      await t.publish(400, 401);
      await waitFor(async () => (await paid()).length === 1);
      // several checks run
      const checked = t.checks();
      await waitFor(() => t.checks() >= checked + 4);
      expect(await t.admin.exists('old-prefix:{test.happened}:keep')).toBe(0);
      expect(t.lines.filter((line) => line.msg.startsWith('outbox relay: Redis lost this stream'))).toEqual([]);
      expect(await paid()).toEqual([400]);
    } finally {
      await db.sql`delete from event_relay_streams where stream = 'old-prefix:{test.happened}'`;
      await t.close();
    }
  }, 60_000);

  it('a new stream (a new prefix on the same database) is not taken for a lost one: nothing is relayed again', async () => {
    await db.sql`truncate paid`;
    const t = await setUp('new-prefix');
    try {
      await t.publish(200, 203);
      await waitFor(async () => (await paid()).length === 3);
      // rows of this type published within the hour by the tests before, to other prefixes, stay
      // marked: this stream was never appended to before
      expect(Number(await t.admin.xlen(t.streamKey))).toBeLessThanOrEqual(3);
      expect(t.lines.filter((line) => line.msg.startsWith('outbox relay: Redis lost this stream'))).toEqual([]);
    } finally {
      await t.close();
    }
  }, 60_000);
});
