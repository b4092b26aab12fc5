import { createRedisConnector } from '@diana/redis';
import { captureLogLines, type RedisServer, startRedis } from '@diana/test-services';
import { createLogger } from '@diana/utils';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisReader } from '../src/adapters/redis-reader.js';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/conformance-events.js';

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  server: RedisServer,
  config: Record<string, unknown> = {},
  transportConfig: Record<string, unknown> = {},
) {
  const transport = createRedisStreamsTransport(
    { prefix: 'chaos:', command_timeout_ms: 500, watchdog_ms: 1_000, ...transportConfig },
    { connector: createRedisConnector({ options: { port: server.port } }) },
  );
  const bus = createEventBus(
    { ...CONFORMANCE_CONFIG, publish_timeout_ms: 500, ...config },
    { transport, events: CONFORMANCE_EVENTS },
  );
  cleanups.push(async () => {
    await bus.close({ timeout_ms: 500 });
    await transport.close();
  });
  return { transport, bus };
}

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function restartUnderLoad(mode: 'shutdown' | 'sigkill') {
  const server = await startRedis({ appendonly: true, appendfsync: mode === 'sigkill' ? 'always' : 'everysec' });
  cleanups.push(() => server.stop());
  const { bus, transport } = await setup(server);
  const received = new Set<number>();
  // set once the old server is gone: whatever is accepted or delivered after it went through the
  // new one (the server may be back, and events flowing, before restart() returns)
  let downAt = 0;
  let restartedAt = 0;
  let firstAfterDown = 0;
  bus.subscribe(
    'restart',
    'test.happened',
    (event) => {
      received.add(event.payload.n);
      if (downAt && !firstAfterDown) firstAfterDown = Date.now();
    },
    { concurrency: 64 },
  );
  await until(async () => (await bus.health()).groups.length === 1, 5_000, 'group created');

  const total = 10_000;
  const published = new Set<number>();
  const publishedAfterDown = new Set<number>();
  let outage = false;
  let failedInOutage = 0;
  let unknownOutcomes = 0;
  let next = 0;
  const publishers = Array.from({ length: 8 }, async () => {
    while (next < total) {
      const n = next++;
      // like a real producer: a publish reported as failed, or as sent but unconfirmed (the
      // server died with it in flight), is retried until it is accepted — the second may duplicate
      // the first, which at-least-once allows; `received` is a set
      for (;;) {
        try {
          await bus.publish('test.happened', { n });
          published.add(n);
          if (downAt) publishedAfterDown.add(n);
          break;
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (code === 'E_BUS_PUBLISH_OUTCOME_UNKNOWN') unknownOutcomes++;
          else if (code !== 'E_BUS_PUBLISH_FAILED') throw error;
          if (outage) failedInOutage++;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    }
  });
  // awaited below; a publisher that throws must fail the test there, not as an unhandled rejection
  const publishing = Promise.all(publishers);
  publishing.catch(() => {});

  await until(() => published.size >= 3_000, 30_000, 'first 3000 published');
  const runIdBefore = await server.runId();
  outage = true;
  if (mode === 'shutdown') await server.shutdown();
  else await server.kill('SIGKILL');
  downAt = Date.now();
  await until(() => failedInOutage >= 1, 10_000, 'a publish failed during the outage');
  await server.restart();
  restartedAt = Date.now();
  outage = false;
  expect(await server.runId()).not.toBe(runIdBefore);
  await publishing;

  await until(() => [...published].every((n) => received.has(n)), 30_000, 'every published event received');
  // the fault happened: publishes failed while the server was down, and the consumer's reader
  // lost its connection and got it back
  expect(failedInOutage).toBeGreaterThanOrEqual(1);
  process.stdout.write(
    `${mode}: ${failedInOutage} publishes failed in the outage, ${unknownOutcomes} unconfirmed (retried)\n`,
  );
  expect(bus.loops()[0]).toMatchObject({ running: true, consecutive_failures: 0 });
  expect(bus.loops()[0]?.reconnects).toBeGreaterThanOrEqual(1);
  // events flowed across the restart: some were accepted only by the new server, and the
  // consumer handled events after the old one was gone, the first within 10 s of the restart
  expect(published.size).toBe(total);
  expect(publishedAfterDown.size).toBeGreaterThan(0);
  expect(firstAfterDown).toBeGreaterThan(downAt - 1);
  expect(firstAfterDown - restartedAt).toBeLessThan(10_000);
  const settled = async () => {
    const [stats] = await transport.groupStats('test.happened');
    return stats?.lag === 0 && stats.pending === 0;
  };
  await until(settled, 5_000, 'every entry acknowledged');
}

describe('event bus under Redis faults', () => {
  it('restart by SHUTDOWN with AOF while 10 000 events flow: nothing lost', () => restartUnderLoad('shutdown'), 90_000);

  it(
    'SIGKILL with appendfsync always while 10 000 events flow: nothing acknowledged is lost',
    () => restartUnderLoad('sigkill'),
    90_000,
  );

  it('resumes by itself after CLIENT KILL of its blocking connection', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    const { bus } = await setup(server);
    const got: number[] = [];
    bus.subscribe('killed', 'test.happened', (e) => void got.push(e.payload.n));
    await until(async () => (await bus.health()).groups.length === 1, 5_000, 'group created');
    await bus.publish('test.happened', { n: 1 });
    await until(() => got.length === 1, 5_000, 'first event');

    const admin = new Redis(server.url);
    const list = String(await admin.client('LIST'));
    const blocking = list.split('\n').find((line) => line.includes('cmd=xreadgroup'));
    const id = /id=(\d+)/.exec(blocking ?? '')?.[1];
    expect(id).toBeDefined();
    expect(await admin.client('KILL', 'ID', id as string)).toBe(1);
    admin.disconnect();

    await bus.publish('test.happened', { n: 2 });
    await until(() => got.includes(2), 10_000, 'event after CLIENT KILL');
  });

  it('rebuilds a read that hangs while the server is stopped (SIGSTOP), then resumes', async () => {
    const server = await startRedis();
    cleanups.push(async () => {
      server.resume();
      await server.stop();
    });
    const { bus } = await setup(server);
    const got: number[] = [];
    bus.subscribe('paused', 'test.happened', (e) => void got.push(e.payload.n));
    await until(async () => (await bus.health()).groups.length === 1, 5_000, 'group created');

    server.pause();
    const probe = new Redis(server.url, { commandTimeout: 200, maxRetriesPerRequest: 0 });
    probe.on('error', () => {});
    await expect(probe.ping()).rejects.toThrow(/timed out/i); // the server really is stopped
    probe.disconnect();
    // the watchdog notices the hung read (block 50 ms + watchdog 1 s) and rebuilds it
    const reconnects = async () => (await bus.health()).consumers[0]?.reconnects ?? 0;
    await until(async () => (await reconnects()) >= 1, 10_000, 'watchdog rebuilt the reader');
    expect((await bus.health()).error).toBeDefined(); // group figures unavailable while stopped
    server.resume();

    await bus.publish('test.happened', { n: 3 });
    await until(() => got.includes(3), 10_000, 'event after SIGCONT');
  });

  it('a watchdog whose connector was closed under its hung read drops the connection and throws nothing', async () => {
    // the watchdog fired while the connector's close waited for its QUIT on the stopped server: its
    // rebuild asked the closed connector for a client, which throws E_REDIS_CLOSED — in a timer,
    // where nothing catches it (an app that closed its connector before its bus)
    const server = await startRedis();
    cleanups.push(async () => {
      server.resume();
      await server.stop();
    });
    const connector = createRedisConnector({ options: { port: server.port } });
    const log = captureLogLines();
    const reader = createRedisReader({
      connect: () => connector.blocking({ name: 'reader' }),
      keys: { stream: (type) => `chaos:closing:${type}`, typeOf: (key) => key.slice('chaos:closing:'.length) },
      watchdog_ms: 100,
      logger: createLogger({ destination: log.destination, level: 'debug' }),
    });
    await connector.ready({ timeout_ms: 5_000 });
    const thrown: unknown[] = [];
    const onUncaught = (error: unknown) => void thrown.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      server.pause();
      const read = reader.readBroadcast({ cursors: new Map([['t', '$']]), count: 1, block_ms: 50 }).catch((e) => e);
      // the connector's close waits up to 5 s for the QUIT queued behind the hung read; the
      // watchdog (50 + 100 ms) fires meanwhile
      const closing = connector.close({ timeout_ms: 5_000 });
      expect(await read).toMatchObject({ message: expect.stringMatching(/watchdog/) });
      expect(log.lines.map((line) => line.msg)).toContain(
        'blocking stream connection not rebuilt: its connector is closed',
      );
      await closing;
      await new Promise((resolve) => setImmediate(resolve));
      expect(thrown).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      reader.close();
    }
  });

  it('rejects a publish within publish_timeout_ms while Redis is down (no outbox)', async () => {
    const server = await startRedis();
    cleanups.push(() => server.stop());
    // a command timeout far beyond the publish's bound: a publish that waited for a command would show
    const { bus } = await setup(server, { publish_timeout_ms: 400 }, { command_timeout_ms: 20_000 });
    await bus.publish('test.happened', { n: 0 });
    await server.kill('SIGKILL');
    expect(server.pid).toBeUndefined(); // the fault: nothing listens
    const started = performance.now();
    const error = await bus.publish('test.happened', { n: 1 }).catch((e: unknown) => e);
    const elapsed = performance.now() - started;
    expect((error as { code?: string }).code).toBe('E_BUS_PUBLISH_FAILED');
    expect(elapsed).toBeLessThan(5_000); // 400 ms, with a busy machine's slack; 20 s if it waited
  });
  // The hand-back at a stop (`release`) needs Redis; with Redis down the stop must not wait for
  // it. The entries stay on the stopped name and are claimed after claim_idle_ms, as before.
  it('a stop with Redis down does not wait for it: what it held is claimed after claim_idle_ms', async () => {
    const server = await startRedis({ appendonly: true, appendfsync: 'always' });
    cleanups.push(() => server.stop());
    // a command timeout far beyond the stop's bound: a stop that waited for Redis would show
    const command_timeout_ms = 20_000;
    const transport = createRedisStreamsTransport(
      { prefix: 'chaos:', command_timeout_ms, watchdog_ms: 1_000 },
      { connector: createRedisConnector({ options: { port: server.port } }) },
    );
    const leaving = createEventBus(
      { ...CONFORMANCE_CONFIG, publish_timeout_ms: 500 },
      { transport, events: CONFORMANCE_EVENTS, consumer_name: 'leaving' },
    );
    cleanups.push(() => transport.close());
    const started: number[] = [];
    leaving.subscribe(
      'down',
      'test.happened',
      async (e, ctx) => {
        started.push(e.payload.n);
        await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
        throw new Error('stopped');
      },
      { concurrency: 5 },
    );
    for (let n = 0; n < 5; n++) await leaving.publish('test.happened', { n });
    await until(() => started.length === 5, 10_000, 'five handlers running');

    await server.kill('SIGKILL');
    // the fault: Redis is gone
    const publish = await leaving.publish('test.happened', { n: 99 }).catch((e: unknown) => e);
    expect((publish as { code?: string }).code).toBe('E_BUS_PUBLISH_FAILED');
    const t = performance.now();
    // the handlers get 1 s, then the stop's abort; the hand-back is then refused at once
    await leaving.close({ timeout_ms: 1_000 });
    const close_ms = performance.now() - t;
    expect(close_ms).toBeLessThan(command_timeout_ms / 2);

    await server.restart();
    const raw = new Redis(server.url);
    cleanups.push(async () => void raw.disconnect());
    // nothing was handed back: the five are still on the stopped name, idle since their delivery
    // (a hand-back makes them idle for ten years)
    const pending = (await raw.xpending('chaos:{test.happened}', 'down', '-', '+', 10, 'leaving')) as Array<
      [string, string, number, number]
    >;
    expect(pending).toHaveLength(5);
    for (const [, , idle] of pending) expect(idle).toBeLessThan(60_000);

    // and a peer claims them once they are claim_idle_ms idle
    const { bus: peer } = await setup(server, { claim_idle_ms: 1_000, claim_interval_ms: 200 });
    const handled = new Map<number, number>();
    peer.subscribe('down', 'test.happened', (e, ctx) => void handled.set(e.payload.n, ctx.attempt), { concurrency: 5 });
    await until(() => handled.size === 5, 15_000, 'the peer claimed the five');
    expect([...handled.values()]).toEqual([2, 2, 2, 2, 2]);
  }, 60_000);
});
