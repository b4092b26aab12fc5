import { useTestMeter, useTestRedis } from '@diana/test-services';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/conformance-events.js';

const meter = useTestMeter();
const redis = await useTestRedis('retention');
const port = Number(new URL(redis.url).port);

describe('retention and metrics', () => {
  it('keeps a stream bounded through 100 000 events without trimming anything unacknowledged', async () => {
    const transport = createRedisStreamsTransport({ redis: { port }, prefix: `${redis.prefix}r:` });
    const bus = createEventBus(
      { ...CONFORMANCE_CONFIG, trim_interval_ms: 200, batch_size: 200 },
      { transport, events: CONFORMANCE_EVENTS },
    );
    const received = new Uint8Array(100_000);
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
    const deadline = Date.now() + 5_000;
    while ((await bus.health()).groups.length === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));

    let maxLength = 0;
    const sampler = setInterval(() => {
      transport.streamLength('test.happened').then(
        (length) => {
          maxLength = Math.max(maxLength, length);
        },
        () => {},
      );
    }, 50);
    let next = 0;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < 100_000) {
          // backpressure like a real producer: at most 10 000 events ahead of the consumer
          while (next - count > 10_000) await new Promise((r) => setTimeout(r, 5));
          await bus.publish('test.happened', { n: next++ });
        }
      }),
    );
    const end = Date.now() + 60_000;
    while (count < 100_000 && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
    clearInterval(sampler);
    await bus.trim();
    expect(count).toBe(100_000); // every event arrived: nothing unacknowledged was trimmed
    expect(maxLength).toBeGreaterThan(0);
    expect(maxLength).toBeLessThan(30_000); // trimming keeps it near the backlog, far below the total
    expect(await transport.streamLength('test.happened')).toBeLessThan(1_000);

    const collected = await meter.collect();
    expect(collected.sum('diana.events.published')).toBe(100_000);
    expect(collected.sum('diana.events.acked')).toBe(100_000);
    expect(collected.count('diana.events.latency')).toBe(100_000);
    await bus.close({ timeout_ms: 1_000 });
    await transport.close();
  }, 120_000);

  it('types payloads by event type', () => {
    const transport = createRedisStreamsTransport({ redis: { port }, prefix: `${redis.prefix}types:` });
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS });
    // wrong payloads and unknown types do not compile
    // @ts-expect-error n must be a number
    void bus.publish('test.happened', { n: 'one' }).catch(() => {});
    // @ts-expect-error unknown event type
    void bus.publish('test.unknown', { n: 1 }).catch(() => {});
    const sub = bus.subscribe('typed', 'test.keyed', (event) => {
      expectTypeOf(event.payload).toEqualTypeOf<{ key: string; seq: number }>();
    });
    void sub
      .close(100)
      .then(() => bus.close())
      .then(() => transport.close());
  });
});
