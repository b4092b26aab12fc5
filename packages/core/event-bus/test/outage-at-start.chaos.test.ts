// Every loop survives an outage that starts before its first success: a group consumer, a
// broadcast reader and the outbox relay all start while their Redis is down, report that they
// are failing, and come back by themselves when it starts (no restart of the process). Each
// says so once: a warning at its first failure, the retries at debug, an info line when it works.
// Consumers that cannot make their groups as they start (the bot's eleven, Redis lost after its
// ping) say so once for all of them, and a close with Redis down says once that its hand-backs
// were refused (before: eleven pairs of lines in the bot, at error and at warn). The trim timer
// says its failures once too (they were debug lines only: a stream that could not be trimmed grew
// with no warning).

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
/** The lines of `level` and `msg`, from the `from`th line logged on (a test's own). */
const lines = (level: string, msg: string, from = 0) =>
  logged.slice(from).filter((line) => line.level === level && line.msg === msg);

/** A private redis-server (killed by the tests) and a transport on it, closed after the file. */
async function privateRedis(prefix: string) {
  const server = await startRedis();
  cleanups.push(() => server.stop());
  const connector = createRedisConnector({ options: { port: server.port } });
  const transport = createRedisStreamsTransport({ prefix, command_timeout_ms: 300, watchdog_ms: 1_000 }, { connector });
  cleanups.push(() => connector.close({ timeout_ms: 500 }));
  cleanups.push(() => transport.close());
  return { server, connector, transport };
}

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

  it('one warning for the consumers whose groups could not be made, one line once they are; each then reads its group', async () => {
    const from = logged.length;
    const { server, connector, transport } = await privateRedis('outage-consumers:');
    await connector.ping({ timeout_ms: 2_000 }); // the start's ping: Redis answered
    await server.kill();
    expect(server.pid).toBeUndefined(); // the fault: nothing listens when the consumers start

    const bus = createEventBus(
      { ...CONFORMANCE_CONFIG, block_ms: 200 },
      { transport, events: CONFORMANCE_EVENTS, logger },
    );
    cleanups.push(() => bus.close({ timeout_ms: 500 }));
    const handled: string[] = [];
    // three consumers in two groups, as a module subscribes a group several times
    bus.subscribe('alpha', 'test.happened', (event) => void handled.push(`alpha happened ${event.payload.n}`));
    bus.subscribe('alpha', 'test.keyed', (event) => void handled.push(`alpha keyed ${event.payload.seq}`));
    bus.subscribe('beta', 'test.happened', (event) => void handled.push(`beta happened ${event.payload.n}`));

    const setup = 'could not create consumer groups; each consumer retries before its reads';
    await until(() => lines('warn', setup, from).length > 0, 10_000, 'the consumers report their groups not made');
    await until(
      () => bus.loops().every((loop) => loop.running && loop.consecutive_failures >= 1),
      10_000,
      'every consumer retries and reports failing',
    );
    // one warning with the cause, the other two at debug; none at error
    expect(lines('warn', setup, from)).toEqual([
      expect.objectContaining({
        group: 'alpha',
        failures: 1,
        // (the client may not have seen the socket close yet: "Stream isn't writeable …")
        err: expect.objectContaining({ message: expect.any(String) }),
      }),
    ]);
    expect(lines('debug', setup, from).map((line) => [line.group, line.failures])).toEqual([
      ['alpha', 2],
      ['beta', 3],
    ]);
    expect(logged.slice(from).filter((line) => line.level === 'error')).toEqual([]);

    await server.restart();
    await until(() => bus.loops().every((loop) => loop.consecutive_failures === 0), 15_000, 'the consumers recovered');
    await until(() => lines('info', 'consumer groups created', from).length > 0, 10_000, 'the groups made');
    expect(lines('info', 'consumer groups created', from)).toEqual([
      expect.objectContaining({ failures: 3, failing_ms: expect.any(Number) }),
    ]);
    expect(lines('warn', setup, from)).toHaveLength(1);
    // the groups exist and each consumer reads them: every consumer gets its event
    await bus.publish('test.happened', { n: 1 });
    await bus.publish('test.keyed', { key: 'k', seq: 1 });
    await until(() => handled.length === 3, 10_000, 'each consumer handled its event');
    expect(handled.sort()).toEqual(['alpha happened 1', 'alpha keyed 1', 'beta happened 1']);
  }, 60_000);

  it('a close with Redis down says once that it could not hand back, for all its consumers', async () => {
    const { server, transport } = await privateRedis('outage-close:');
    const bus = createEventBus(
      { ...CONFORMANCE_CONFIG, block_ms: 200 },
      { transport, events: CONFORMANCE_EVENTS, logger },
    );
    cleanups.push(() => bus.close({ timeout_ms: 500 }));
    const handled: number[] = [];
    bus.subscribe('alpha', 'test.happened', (event) => void handled.push(event.payload.n));
    bus.subscribe('alpha', 'test.keyed', () => {});
    bus.subscribe('beta', 'test.happened', () => {});
    // the consumers read: an event reaches them
    await until(
      async () => {
        await bus.publish('test.happened', { n: 1 });
        return handled.length > 0;
      },
      10_000,
      'the consumers read',
    );

    await server.kill();
    expect(server.pid).toBeUndefined(); // the fault
    await until(async () => (await bus.health()).error !== undefined, 10_000, 'the transport sees Redis down');
    const before = logged.length;
    await bus.close({ timeout_ms: 500 });
    const refused = logged
      .slice(before)
      .filter((line) => line.msg === 'could not hand back unfinished entries: claimed after claim_idle_ms');
    expect(refused).toEqual([
      expect.objectContaining({
        level: 'warn',
        consumers: 3,
        groups: ['alpha', 'beta'],
        err: expect.objectContaining({ message: expect.any(String) }),
      }),
    ]);
  }, 60_000);

  it('the trim timer warns once while trims fail, and says when they work again', async () => {
    const from = logged.length;
    const { server, transport } = await privateRedis('outage-trim:');
    await server.kill();
    expect(server.pid).toBeUndefined(); // the fault: every trim fails
    const bus = createEventBus(
      { ...CONFORMANCE_CONFIG, trim_interval_ms: 20 },
      { transport, events: CONFORMANCE_EVENTS, logger },
    );
    cleanups.push(() => bus.close({ timeout_ms: 500 }));
    bus.subscribe('trimmed', 'test.happened', () => {}); // a stream to trim
    const failed = 'trimming streams failed; tried again at the next interval';
    await until(() => lines('debug', failed, from).length >= 2, 10_000, 'trims failing');
    await server.restart();
    await until(() => lines('info', 'trimming streams works again', from).length > 0, 15_000, 'trims work again');
    expect(lines('warn', failed, from)).toHaveLength(1);
    expect(lines('info', 'trimming streams works again', from)[0]?.failures).toBeGreaterThanOrEqual(3);
  }, 60_000);
});
