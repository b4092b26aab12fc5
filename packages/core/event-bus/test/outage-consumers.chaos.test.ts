// Redis dies as an app starts, after its ping answered, while its consumers are being created (the
// bot's eleven): no consumer can make its groups, and each retries before its reads until it has.
// Said once for all of them, and once when they are made; a close with Redis down says once that
// its hand-backs were refused. Before, each consumer said each: eleven pairs in the bot (at error,
// then at warn), for one cause.

import { createRedisConnector } from '@diana/redis';
import { captureLogLines, startRedis } from '@diana/test-services';
import { createLogger } from '@diana/utils';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/conformance-events.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const { destination, lines: logged } = captureLogLines();
const logger = createLogger({ level: 'debug', destination });
const lines = (level: string, msg: string) => logged.filter((line) => line.level === level && line.msg === msg);

describe('Redis dies while the consumers start', () => {
  it('one warning for the consumers whose groups could not be made, one line once they are; each then reads its group', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const connector = createRedisConnector({ options: { port: server.port } });
    const transport = createRedisStreamsTransport(
      { prefix: 'outage-consumers:', command_timeout_ms: 300, watchdog_ms: 1_000 },
      { connector },
    );
    cleanups.push(() => connector.close({ timeout_ms: 500 }));
    cleanups.push(() => transport.close());
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
    await until(() => lines('warn', setup).length > 0, 10_000, 'the consumers report their groups not made');
    await until(
      () => bus.loops().every((loop) => loop.running && loop.consecutive_failures >= 1),
      10_000,
      'every consumer retries and reports failing',
    );
    // one warning with the cause, the other two at debug; none at error
    expect(lines('warn', setup)).toEqual([
      expect.objectContaining({
        group: 'alpha',
        failures: 1,
        // (the client may not have seen the socket close yet: "Stream isn't writeable …")
        err: expect.objectContaining({ message: expect.any(String) }),
      }),
    ]);
    expect(lines('debug', setup).map((line) => [line.group, line.failures])).toEqual([
      ['alpha', 2],
      ['beta', 3],
    ]);
    expect(logged.filter((line) => line.level === 'error')).toEqual([]);

    await server.restart();
    await until(() => bus.loops().every((loop) => loop.consecutive_failures === 0), 15_000, 'the consumers recovered');
    await until(() => lines('info', 'consumer groups created').length > 0, 10_000, 'the groups made');
    expect(lines('info', 'consumer groups created')).toEqual([
      expect.objectContaining({ failures: 3, failing_ms: expect.any(Number) }),
    ]);
    expect(lines('warn', setup)).toHaveLength(1);
    // the groups exist and each consumer reads them: every consumer gets its event
    await bus.publish('test.happened', { n: 1 });
    await bus.publish('test.keyed', { key: 'k', seq: 1 });
    await until(() => handled.length === 3, 10_000, 'each consumer handled its event');
    expect(handled.sort()).toEqual(['alpha happened 1', 'alpha keyed 1', 'beta happened 1']);
  }, 60_000);

  it('a close with Redis down says once that it could not hand back, for all its consumers', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const connector = createRedisConnector({ options: { port: server.port } });
    const transport = createRedisStreamsTransport(
      { prefix: 'outage-close:', command_timeout_ms: 300, watchdog_ms: 1_000 },
      { connector },
    );
    cleanups.push(() => connector.close({ timeout_ms: 500 }));
    cleanups.push(() => transport.close());
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
});
