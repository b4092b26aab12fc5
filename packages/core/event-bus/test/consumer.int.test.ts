// The group consumer against Redis: what it does with entries that were delivered before.
import { createRedisConnector } from '@diana/redis';
import { useTestRedis } from '@diana/test-services';
import { Redis } from 'ioredis';
import { afterAll, expect, it, vi } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/conformance-events.js';

const redis = await useTestRedis('event-bus-consumer');
const connector = () => createRedisConnector({ options: { host: '127.0.0.1', port: Number(new URL(redis.url).port) } });
const raw = new Redis(redis.url);
afterAll(() => raw.disconnect());

// A handler that kills its process (SIGKILL, OOM) never throws: only Redis's delivery count
// says it ran. Here consumers that died are Redis deliveries to names that never answer.
it('an entry delivered more than max_attempts times is dead-lettered without running; one at max_attempts runs', async () => {
  const prefix = `${redis.prefix}crash:`;
  const stream = `${prefix}{test.happened}`;
  const transport = createRedisStreamsTransport({ prefix }, { connector: connector() });
  const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, consumer_name: 'survivor' });
  try {
    await transport.ensureGroup('test.happened', 'g');
    const crasher = await bus.publish('test.happened', { n: 1 });
    await bus.publish('test.happened', { n: 2 });
    // max_attempts (3) deliveries of n 1 to processes that died under it, 2 of n 2
    const [[, entries] = ['', []]] = (await raw.xreadgroup('GROUP', 'g', 'dead-1', 'STREAMS', stream, '>')) as Array<
      [string, Array<[string, string[]]>]
    >;
    const [crasherId, otherId] = entries.map(([id]) => id) as [string, string];
    await raw.xclaim(stream, 'g', 'dead-2', 0, crasherId, otherId);
    await raw.xclaim(stream, 'g', 'dead-3', 0, crasherId);
    const counts = (await raw.xpending(stream, 'g', '-', '+', 10)) as Array<[string, string, number, number]>;
    expect(counts.map(([id, , , n]) => [id, n])).toEqual([
      [crasherId, 3],
      [otherId, 2],
    ]);

    const ran: Array<[number, number]> = [];
    bus.subscribe('g', 'test.happened', (event, ctx) => {
      ran.push([event.payload.n, ctx.attempt]);
    });
    await vi.waitFor(
      async () => {
        expect(await transport.countDeadLetters('test.happened')).toBe(1);
        expect((await transport.groupStats('test.happened'))[0]?.pending).toBe(0);
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(ran).toEqual([[2, 3]]);
    const [letter] = await transport.listDeadLetters('test.happened', 10);
    expect(letter).toMatchObject({ group: 'g', attempts: 3, original_id: crasherId });
    expect(letter?.error).toMatch(/delivered 3 times without an answer: the process handling it died each time/);
    expect(JSON.parse(letter?.raw ?? '{}')).toMatchObject({ id: crasher.id });
  } finally {
    await bus.close({ timeout_ms: 500 });
    await transport.close();
  }
}, 20_000);

// Anyone with the stream's key can add to it: an entry whose envelope names another type passes
// that type's schema, and would reach this stream's handlers with a payload of the wrong shape.
it('an entry of another type on a stream is dead-lettered by each group, never handled', async () => {
  const prefix = `${redis.prefix}foreign:`;
  const stream = `${prefix}{test.happened}`;
  const transport = createRedisStreamsTransport({ prefix }, { connector: connector() });
  const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS });
  try {
    for (const group of ['g1', 'g2']) await transport.ensureGroup('test.happened', group);
    const foreign = {
      id: '0190a8c4-0000-7000-8000-000000000001',
      type: 'test.keyed',
      version: 1,
      occurred_at: new Date().toISOString(),
      correlation_id: '0190a8c4-0000-7000-8000-000000000001',
      causation_id: null,
      user_id: null,
      key: null,
      payload: { key: 'k', seq: 1 },
    };
    await raw.xadd(stream, '*', 'e', JSON.stringify(foreign));
    await bus.publish('test.happened', { n: 7 });

    const ran: Array<[string, string, unknown]> = [];
    for (const group of ['g1', 'g2']) {
      bus.subscribe(group, 'test.happened', (event) => {
        ran.push([group, event.type, event.payload]);
      });
    }
    await vi.waitFor(
      async () => {
        expect(await transport.countDeadLetters('test.happened')).toBe(2);
        expect(ran).toHaveLength(2);
      },
      { timeout: 10_000, interval: 50 },
    );
    expect(ran.sort()).toEqual([
      ['g1', 'test.happened', { n: 7 }],
      ['g2', 'test.happened', { n: 7 }],
    ]);
    const letters = await transport.listDeadLetters('test.happened', 10);
    expect(letters.map((l) => l.group).sort()).toEqual(['g1', 'g2']);
    for (const letter of letters) {
      expect(letter.error).toBe('E_BUS_EVENT_SCHEMA: a test.keyed entry on the test.happened stream');
    }
  } finally {
    await bus.close({ timeout_ms: 500 });
    await transport.close();
  }
}, 20_000);
