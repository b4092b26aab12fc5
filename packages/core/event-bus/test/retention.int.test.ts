import { createRedisConnector } from '@diana/redis';
import { useTestMeter, useTestRedis } from '@diana/test-services';
import { afterEach, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/conformance-events.js';

// Payload types by event type are checked in test/types.test-d.ts.
const meter = useTestMeter();
const redis = await useTestRedis('retention');
const port = Number(new URL(redis.url).port);
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function until(check: () => boolean | Promise<boolean>, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('retention and metrics', () => {
  it('keeps a stream bounded through 100 000 events without trimming anything unacknowledged', async () => {
    const total = 100_000;
    const transport = createRedisStreamsTransport(
      { prefix: `${redis.prefix}r:` },
      { connector: createRedisConnector({ options: { port } }) },
    );
    cleanups.push(() => transport.close());
    const bus = createEventBus(
      { ...CONFORMANCE_CONFIG, trim_interval_ms: 200, batch_size: 200 },
      { transport, events: CONFORMANCE_EVENTS },
    );
    cleanups.push(() => bus.close({ timeout_ms: 1_000 }));
    const received = new Uint8Array(total);
    let count = 0;
    bus.subscribe(
      'bulk',
      'test.happened',
      (e) => {
        if (received[e.payload.n] === 0) count++;
        received[e.payload.n] = 1;
      },
      { concurrency: 256 },
    );
    await until(async () => (await bus.health()).groups.length === 1, 5_000, 'group created');

    // the stream's length while events flow, read from Redis; a failed read fails the test
    const lengths: number[] = [];
    const sampleErrors: unknown[] = [];
    let sampling: Promise<void> = Promise.resolve();
    const sampler = setInterval(() => {
      sampling = transport.streamLength('test.happened').then(
        (length) => void lengths.push(length),
        (error: unknown) => void sampleErrors.push(error),
      );
    }, 50);
    let next = 0;
    try {
      await Promise.all(
        Array.from({ length: 64 }, async () => {
          while (next < total) {
            // backpressure like a real producer: at most 10 000 events ahead of the consumer
            while (next - count > 10_000) await new Promise((r) => setTimeout(r, 5));
            await bus.publish('test.happened', { n: next++ });
          }
        }),
      );
      await until(() => count === total, 60_000, 'every event received');
    } finally {
      clearInterval(sampler);
      await sampling;
    }
    expect(sampleErrors).toEqual([]);
    expect(received.every((seen) => seen === 1)).toBe(true); // nothing unacknowledged was trimmed
    expect(lengths.length).toBeGreaterThan(10);
    // the 200 ms timer trimmed while events flowed: the stream stayed near the 10 000 backlog
    expect(Math.max(...lengths)).toBeLessThan(30_000);
    const acknowledged = async () =>
      (await transport.groupStats('test.happened')).filter((g) => g.pending === 0 && g.lag === 0).length === 1;
    await until(acknowledged, 10_000, 'every entry acknowledged');
    await bus.trim();
    expect(await transport.streamLength('test.happened')).toBeLessThan(1_000);

    const collected = await meter.collect();
    expect(collected.sum('diana.events.published')).toBe(total);
    expect(collected.sum('diana.events.acked')).toBe(total);
    expect(collected.count('diana.events.latency')).toBe(total);
  }, 120_000);
});
