// Every loop survives an outage that starts before its first success: a group consumer, a
// broadcast reader and the outbox relay all start while their Redis is down, report that they
// are failing, and come back by themselves when it starts (no restart of the process). Each
// says so once: a warning at its first failure, the retries at debug, an info line when it works.

import { createPostgres, DB_MIGRATIONS, migrate } from '@diana/db';
import { createRedisConnector } from '@diana/redis';
import { captureLogLines, startRedis, useTestDatabase } from '@diana/test-services';
import { createLogger } from '@diana/utils';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/conformance-events.js';
import { createOutboxRelay, EVENT_BUS_MIGRATIONS } from '../src/relay.js';

const testDb = await useTestDatabase('outage-at-start');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
  await db.close();
});

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

// every line the bus and the relay log, parsed
const { destination, lines: logged } = captureLogLines();
const logger = createLogger({ level: 'debug', destination });
const lines = (level: string, msg: string) => logged.filter((line) => line.level === level && line.msg === msg);

describe('Redis down when the loops start', () => {
  it('group consumer, broadcast reader and outbox relay report failing, then deliver once Redis is up', async () => {
    await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS]);
    const server = await startRedis();
    cleanups.push(() => server.stop());
    await server.kill();
    expect(server.pid).toBeUndefined(); // the fault: nothing listens when the loops start

    const transport = createRedisStreamsTransport(
      { prefix: 'outage:', command_timeout_ms: 300, watchdog_ms: 1_000 },
      { connector: createRedisConnector({ options: { port: server.port } }) },
    );
    const bus = createEventBus(
      { ...CONFORMANCE_CONFIG, publish_timeout_ms: 300 },
      { transport, events: CONFORMANCE_EVENTS, db, logger },
    );
    cleanups.push(async () => {
      await bus.close({ timeout_ms: 500 });
      await transport.close();
    });
    const grouped: number[] = [];
    const broadcast: number[] = [];
    bus.subscribe('outage', 'test.happened', (event) => void grouped.push(event.payload.n));
    bus.subscribe('test.happened', (event) => void broadcast.push(event.payload.n), { mode: 'broadcast' });
    // an event committed while Redis is down waits in the outbox; the relay starts after it, so its
    // first pass has a row to append (a pass over an empty outbox succeeds without Redis)
    await db.transaction(() => bus.publish('test.happened', { n: 1 }));
    const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db, transport, logger });
    cleanups.push(() => relay.close());

    await until(
      () => bus.loops().length === 2 && bus.loops().every((loop) => loop.running && loop.consecutive_failures >= 3),
      10_000,
      'both read loops report failing, three times at least',
    );
    await until(() => relay.status().consecutive_failures >= 3, 10_000, 'the relay reports failing, three times');
    expect(relay.status().last_ok_at).toBeUndefined();
    // one warning from each loop, its retries at debug
    for (const msg of [
      'read failed; retrying',
      'broadcast read failed; retrying',
      'outbox relay pass failed; rows stay for the next pass',
    ]) {
      expect(lines('warn', msg), msg).toHaveLength(1);
      expect(lines('debug', msg).length, msg).toBeGreaterThanOrEqual(2);
    }

    await server.restart();
    await until(() => bus.loops().every((loop) => loop.consecutive_failures === 0), 15_000, 'read loops recovered');
    await until(() => relay.status().consecutive_failures === 0, 15_000, 'relay recovered');
    await until(() => grouped.includes(1), 15_000, 'the outbox event reached the group');
    // and each says once that it works again, with how many failures it went through
    for (const msg of ['reads work again', 'broadcast reads work again', 'outbox relay passes work again']) {
      const recovered = lines('info', msg);
      expect(recovered, msg).toHaveLength(1);
      expect(recovered[0]?.failures, msg).toBeGreaterThanOrEqual(3);
    }

    // the broadcast reader reads again: a blocking XREAD of ours is on the server, and a new event arrives
    const admin = new Redis({ port: server.port });
    cleanups.push(async () => admin.disconnect());
    await until(async () => String(await admin.client('LIST')).includes('cmd=xread '), 10_000, 'an XREAD connection');
    await until(
      async () => {
        await bus.publish('test.happened', { n: 2 });
        return broadcast.includes(2);
      },
      15_000,
      'a broadcast event delivered',
    );
    await until(() => grouped.includes(2), 10_000, 'the direct event reached the group');
  }, 90_000);
});
