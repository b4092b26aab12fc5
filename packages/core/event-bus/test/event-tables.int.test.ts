// Published outbox rows and inbox records are removed past their retention (the tables grew for
// ever: a stranger's bot kept every event it had ever published); what is not published, or not
// old by its own time, stays.
import { randomUUID } from 'node:crypto';
import { createPostgres, type Database, DB_MIGRATIONS, migrate } from '@diana/db';
import { createRedisConnector } from '@diana/redis';
import { until, useTestDatabase, useTestRedis } from '@diana/test-services';
import { isDianaError } from '@diana/utils';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createOutboxRelay, EVENT_BUS_MIGRATIONS } from '../src/relay.js';
import { pruneEventTables, uuidv7Floor } from '../src/retention.js';

const testDb = await useTestDatabase('event-tables');
const redis = await useTestRedis('event-tables');
let db: Database;
beforeAll(async () => {
  db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS]);
});
afterAll(() => db.close());
beforeEach(async () => {
  await db.sql`truncate event_outbox, event_inbox`;
});

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** A UUIDv7-shaped id of the time `ms_ago` ago (random after the time, like a real one). */
const idAgo = (ms_ago: number) => {
  const floor = uuidv7Floor(Date.now() - ms_ago);
  const rest = randomUUID().slice(14); // "4xxx-yxxx-xxxxxxxxxxxx"
  return `${floor.slice(0, 14)}7${rest.slice(1)}`;
};
const outboxRow = (id: string, published_ms_ago: number | null) =>
  published_ms_ago === null
    ? db.sql`insert into event_outbox (id, type, key, envelope) values (${id}, 'test.happened', null, '{}')`
    : db.sql`
        insert into event_outbox (id, type, key, envelope, published_at)
        values (${id}, 'test.happened', null, '{}', now() - ${published_ms_ago}::int8 * interval '1 millisecond')`;
const inboxRow = (group: string, id: string, processed_ms_ago: number) =>
  db.sql`
    insert into event_inbox (group_name, event_id, processed_at)
    values (${group}, ${id}, now() - ${processed_ms_ago}::int8 * interval '1 millisecond')`;
const outboxIds = async () =>
  (await db.sql<{ id: string }[]>`select id from event_outbox order by id`).map((r) => r.id);
const inboxKeys = async () =>
  (await db.sql<{ k: string }[]>`select group_name || '/' || event_id as k from event_inbox order by 1`).map(
    (r) => r.k,
  );

describe('pruneEventTables', () => {
  it('removes published outbox rows and inbox records past their retention, and nothing else', async () => {
    const oldPublished = Array.from({ length: 5 }, () => idAgo(2 * DAY));
    for (const id of oldPublished) await outboxRow(id, 2 * DAY);
    const oldUnpublished = idAgo(2 * DAY);
    await outboxRow(oldUnpublished, null);
    const recent = idAgo(HOUR);
    await outboxRow(recent, HOUR);
    // an id of another version sorts anywhere: old by its id, published a moment ago — kept
    const otherVersion = '00000000-0000-4000-8000-000000000001';
    await outboxRow(otherVersion, 0);

    const oldA = Array.from({ length: 3 }, () => idAgo(8 * DAY));
    const oldB = Array.from({ length: 2 }, () => idAgo(8 * DAY));
    for (const id of oldA) await inboxRow('group-a', id, 8 * DAY);
    for (const id of oldB) await inboxRow('group-b', id, 8 * DAY);
    const keptA = idAgo(DAY);
    await inboxRow('group-a', keptA, DAY);
    const oldIdRecentlyProcessed = idAgo(8 * DAY);
    await inboxRow('group-b', oldIdRecentlyProcessed, HOUR);

    // batches of two: several statements per table and per group
    const removed = await pruneEventTables(db, {
      outbox_retention_ms: DAY,
      inbox_retention_ms: 7 * DAY,
      batch: 2,
      max_batches: 100,
    });
    expect(removed).toEqual({ outbox: 5, inbox: 5 });
    expect(await outboxIds()).toEqual([otherVersion, oldUnpublished, recent].sort());
    expect(await inboxKeys()).toEqual([`group-a/${keptA}`, `group-b/${oldIdRecentlyProcessed}`]);
    // nothing more to remove
    expect(
      await pruneEventTables(db, { outbox_retention_ms: DAY, inbox_retention_ms: 7 * DAY, batch: 2, max_batches: 100 }),
    ).toEqual({ outbox: 0, inbox: 0 });
  });

  it('a prune removes at most max_batches × batch rows per table and group; the next goes on; 0 keeps all', async () => {
    for (let i = 0; i < 7; i++) await outboxRow(idAgo(2 * DAY), 2 * DAY);
    for (let i = 0; i < 7; i++) await inboxRow('g', idAgo(8 * DAY), 8 * DAY);
    const keep = { outbox_retention_ms: 0, inbox_retention_ms: 0, batch: 2, max_batches: 2 };
    expect(await pruneEventTables(db, keep)).toEqual({ outbox: 0, inbox: 0 });
    const settings = { outbox_retention_ms: DAY, inbox_retention_ms: 7 * DAY, batch: 2, max_batches: 2 };
    expect(await pruneEventTables(db, settings)).toEqual({ outbox: 4, inbox: 4 });
    expect(await pruneEventTables(db, settings)).toEqual({ outbox: 3, inbox: 3 });
    expect((await outboxIds()).length + (await inboxKeys()).length).toBe(0);
  });

  it('one process at a time: while another holds the prune lock a prune removes nothing; then each row once', async () => {
    for (let i = 0; i < 40; i++) await outboxRow(idAgo(2 * DAY), 2 * DAY);
    const settings = { outbox_retention_ms: DAY, inbox_retention_ms: 0, batch: 5, max_batches: 100 };
    // straight to the server: through PgBouncer in transaction mode a session lock stays with a
    // server connection the pooler hands to the next client — the prune's own, which then holds it
    const other = createPostgres({ url: testDb.direct_url, pool_max: 2 });
    try {
      // the lock held by another session (a second relay's prune under way)
      const held = await other.sql.reserve();
      try {
        await held`select pg_advisory_lock(hashtext('diana.event_tables.prune'))`;
        expect(await pruneEventTables(db, settings)).toEqual({ outbox: 0, inbox: 0 });
        expect(await outboxIds()).toHaveLength(40);
        await held`select pg_advisory_unlock(hashtext('diana.event_tables.prune'))`;
      } finally {
        held.release();
      }
      // two at once, behind one barrier: every row removed once between them
      let open!: () => void;
      const barrier = new Promise<void>((resolve) => {
        open = resolve;
      });
      const runs = [db, other].map(async (pool) => {
        await barrier;
        return pruneEventTables(pool, settings);
      });
      open();
      const [a, b] = await Promise.all(runs);
      expect((a?.outbox ?? 0) + (b?.outbox ?? 0)).toBe(40);
      expect(await outboxIds()).toEqual([]);
    } finally {
      await other.close();
    }
  });

  it('an aborted signal sends no further statement', async () => {
    for (let i = 0; i < 6; i++) await outboxRow(idAgo(2 * DAY), 2 * DAY);
    const stop = new AbortController();
    stop.abort();
    const settings = { outbox_retention_ms: DAY, inbox_retention_ms: 7 * DAY, batch: 2, max_batches: 100 };
    expect(await pruneEventTables(db, { ...settings, signal: stop.signal })).toEqual({ outbox: 0, inbox: 0 });
    expect(await outboxIds()).toHaveLength(6);
  });
});

describe('the relay prunes', () => {
  it('every retention_interval_ms: old published rows go, an old row it publishes now stays', async () => {
    const transport = createRedisStreamsTransport(
      { prefix: `${redis.prefix}prune:` },
      { connector: createRedisConnector({ options: { port: Number(new URL(redis.url).port) } }) },
    );
    const old = Array.from({ length: 3 }, () => idAgo(2 * DAY));
    for (const id of old) await outboxRow(id, 2 * DAY);
    // committed two days ago and never relayed: published now, so young by its own time
    const stuck = idAgo(2 * DAY);
    await db.sql`
      insert into event_outbox (id, type, key, envelope) values (${stuck}, 'test.happened', null, ${JSON.stringify({ id: stuck })})`;
    await inboxRow('g', idAgo(8 * DAY), 8 * DAY);
    const relay = createOutboxRelay(
      { outbox_poll_ms: 50, retention_interval_ms: 50, outbox_retention_ms: DAY, inbox_retention_ms: 7 * DAY },
      { db, transport },
    );
    try {
      // the relay's first pass and the first prune in either order (the pass waits for LISTEN):
      // polled until both have run, then the rows looked at once more
      const rows = () =>
        db.sql<{ id: string; published: boolean }[]>`
          select id, published_at is not null as published from event_outbox order by id`;
      expect(
        await until(async () => (await rows()).every((r) => r.published) && (await inboxKeys()).length === 0, 10_000),
      ).toBe(true);
      expect(await until(async () => (await rows()).length === 1, 10_000)).toBe(true);
      expect(await rows()).toEqual([{ id: stuck, published: true }]);
    } finally {
      await relay.close({ timeout_ms: 2_000 });
      await transport.close();
    }
  });

  it('an inbox retention shorter than dedupe_ttl_ms is refused: an event appended again would run twice', () => {
    const transport = { append: async () => '' } as never;
    const refused = (config: Record<string, number>) => {
      try {
        createOutboxRelay(config, { db, transport });
        return undefined;
      } catch (error) {
        return isDianaError(error, 'E_BUS_CONFIG') ? error.message : error;
      }
    };
    expect(refused({ inbox_retention_ms: HOUR })).toMatch(
      /^inbox_retention_ms \(DIANA_EVENT_BUS_INBOX_RETENTION_MS\) must be 0 or at least dedupe_ttl_ms \(DIANA_EVENT_BUS_DEDUPE_TTL_MS\): 3600000 < 86400000/,
    );
    expect(refused({ inbox_retention_ms: HOUR, dedupe_ttl_ms: 2 * HOUR })).toMatch(/: 3600000 < 7200000 /);
  });
});
