// The gauges operators watch: consumer lag and pending per group, dead letters per type, the
// outbox backlog; and that a collection skips them, without failing or hanging, while Redis
// or PostgreSQL does not answer.

import { once } from 'node:events';
import { createServer } from 'node:net';
import { createPostgres, type Database, DB_MIGRATIONS, migrate } from '@diana/db';
import { createRedisConnector } from '@diana/redis';
import { useTestDatabase, useTestMeter, useTestRedis } from '@diana/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { GAUGE_READ_TIMEOUT_MS } from '../src/metrics.js';
import { createOutboxRelay, EVENT_BUS_MIGRATIONS } from '../src/relay.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/testing.js';

const meter = useTestMeter();
const testDb = await useTestDatabase('bus-gauges');
const redis = await useTestRedis('bus-gauges');
const redisPort = Number(new URL(redis.url).port);
let db: Database;
beforeAll(async () => {
  db = createPostgres({ url: testDb.url });
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

/** A loopback port nobody listens on. */
async function deadPort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe('event-bus gauges', () => {
  // First: the SDK keeps the last value of an attribute set a later collection skips
  // (cumulative points), so "no point at all" can only be seen before any read succeeded.
  it('with PostgreSQL unreachable, the outbox gauges are skipped and the collection still completes', async () => {
    const down = createPostgres({
      url: `postgres://postgres@127.0.0.1:${await deadPort()}/none`,
      connect_timeout_ms: 1_000,
    });
    const transport = createRedisStreamsTransport(
      { prefix: `${redis.prefix}pgdown:` },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db: down, transport });
    try {
      const started = Date.now();
      const collected = await meter.collect();
      // it completes: bounded by the connect timeout and the gauges' own (a busy machine's slack)
      expect(Date.now() - started).toBeLessThan(3 * GAUGE_READ_TIMEOUT_MS);
      expect(collected.points('diana.events.outbox.backlog')).toEqual([]);
    } finally {
      await relay.close();
      await transport.close();
      await down.close();
    }
  });
  it('report lag and pending per group, dead letters per type, and latency in seconds', async () => {
    const transport = createRedisStreamsTransport(
      { prefix: `${redis.prefix}g:` },
      { connector: createRedisConnector({ options: { port: redisPort } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS });
    let release: () => void = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let slowStarted = 0;
    // 'slow' takes one event and holds it: 1 pending, the other 4 not yet delivered (lag)
    bus.subscribe(
      'slow',
      'test.happened',
      async () => {
        slowStarted++;
        await held;
      },
      { concurrency: 1 },
    );
    bus.subscribe('failing', 'test.keyed', () => {
      throw new Error('always fails');
    });
    bus.subscribe('quick', 'test.happened', () => {});
    try {
      await waitFor(async () => (await bus.health()).groups.length === 3);
      for (let n = 0; n < 5; n++) await bus.publish('test.happened', { n });
      await bus.publish('test.keyed', { key: 'k', seq: 1 });
      await waitFor(() => slowStarted === 1);
      await waitFor(async () => (await meter.collect()).sum('diana.events.dead_letters', { type: 'test.keyed' }) === 1);
      await waitFor(async () => (await meter.collect()).sum('diana.events.acked', { group: 'quick' }) === 5);

      const slow = { type: 'test.happened', group: 'slow' };
      // a scrape whose gauge read a busy machine held past its 2 s skips the series: polled
      let collected = await meter.collect();
      await waitFor(async () => {
        collected = await meter.collect();
        return ['pending', 'lag', 'oldest_pending_age'].every(
          (gauge) => collected.points(`diana.events.consumer.${gauge}`, slow).length > 0,
        );
      });
      expect(collected.sum('diana.events.consumer.pending', slow)).toBeGreaterThanOrEqual(1);
      expect(
        collected.sum('diana.events.consumer.pending', slow) + collected.sum('diana.events.consumer.lag', slow),
      ).toBe(5);
      expect(collected.sum('diana.events.consumer.oldest_pending_age', slow)).toBeGreaterThanOrEqual(0);
      expect(collected.sum('diana.events.consumer.lag', { type: 'test.happened', group: 'quick' })).toBe(0);
      expect(collected.sum('diana.events.dead_letters', { type: 'test.happened' })).toBe(0);
      expect(collected.descriptor('diana.events.latency')?.unit).toBe('s');
      // five events acknowledged within seconds: the recorded latencies add up to less than a minute
      expect(collected.total('diana.events.latency', { group: 'quick' })).toBeLessThan(60);

      release();
      await waitFor(async () => (await meter.collect()).sum('diana.events.consumer.pending', slow) === 0);
    } finally {
      release();
      await bus.close({ timeout_ms: 500 });
      await transport.close();
    }
  });

  it('with Redis unreachable, a collection skips the stream gauges within the read timeout; the outbox backlog shows the rows waiting', async () => {
    const transport = createRedisStreamsTransport(
      {
        prefix: 'gauges-down:',
        command_timeout_ms: 8_000,
        // far longer than the gauges wait: their own timeout is what bounds the scrape
      },
      { connector: createRedisConnector({ options: { port: await deadPort() } }) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
    bus.subscribe('nobody', 'test.happened', () => {});
    bus.subscribe('nobody', 'test.keyed', () => {});
    const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db, transport });
    try {
      await db.transaction(async () => {
        for (let n = 0; n < 3; n++) await bus.publish('test.happened', { n });
      });
      const started = Date.now();
      const collected = await meter.collect();
      expect(Date.now() - started).toBeLessThan(7_500); // 2 s gauges and a busy machine's slack; 8 s if a command bounded it
      expect(collected.points('diana.events.consumer.lag', { group: 'nobody' })).toEqual([]);
      // the relay cannot append: the rows wait in the outbox, and the gauge says how many
      expect(collected.sum('diana.events.outbox.backlog')).toBe(3);
      expect(collected.sum('diana.events.outbox.oldest_age')).toBeGreaterThanOrEqual(0);
      expect(collected.sum('diana.events.outbox.oldest_age')).toBeLessThan(60);
    } finally {
      await relay.close();
      await bus.close({ timeout_ms: 200 });
      await transport.close();
      await db.sql`delete from event_outbox`;
    }
  });
});
