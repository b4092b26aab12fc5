import { createRedisConnector } from '@diana/redis';
import { useTestRedis } from '@diana/test-services';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createAppendBatcher, type SendBatch } from '../src/adapters/redis-append-batch.js';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';

const redis = await useTestRedis('append-batch');
const admin = new Redis(redis.url);
afterAll(() => admin.disconnect());
const transportAt = (prefix: string) =>
  createRedisStreamsTransport(
    { prefix: `${redis.prefix}${prefix}:` },
    { connector: createRedisConnector({ options: { port: Number(new URL(redis.url).port) } }) },
  );

describe('append batching (recorded sends)', () => {
  const recording = () => {
    const sends: Array<{ keys: string[]; args: Array<string | number> }> = [];
    const send: SendBatch = async (keys, args) => {
      sends.push({ keys, args });
      return Array.from({ length: (args.length - 1) / 2 }, (_, i) => `${sends.length}-${i}`);
    };
    return { sends, send };
  };

  it("sends one turn's appends to a stream as one call, in order, at most max_batch each", async () => {
    const { sends, send } = recording();
    const append = createAppendBatcher(send, { max_len: 1_000, max_batch: 32, default_ttl_ms: 60_000 });
    const ids = await Promise.all(Array.from({ length: 100 }, (_, n) => append('s', { raw: `e${n}` })));
    expect(sends.map((s) => (s.args.length - 1) / 2)).toEqual([32, 32, 32, 4]);
    expect(sends.flatMap((s) => s.args.filter((_a, i) => i > 0 && i % 2 === 0))).toEqual(
      Array.from({ length: 100 }, (_, n) => `e${n}`),
    );
    expect(new Set(ids).size).toBe(100);
  });

  it('sends each append on its own with max_batch 1', async () => {
    const { sends, send } = recording();
    const append = createAppendBatcher(send, { max_len: 7, max_batch: 1, default_ttl_ms: 60_000 });
    await Promise.all([append('s', { raw: '1' }), append('s', { raw: '2' }), append('s', { raw: '3' })]);
    expect(sends.map((s) => s.args)).toEqual([
      [7, '', '1'],
      [7, '', '2'],
      [7, '', '3'],
    ]);
  });

  it('keeps streams apart and puts each marker key in the order of its entries', async () => {
    const { sends, send } = recording();
    const append = createAppendBatcher(send, { max_len: 7, max_batch: 32, default_ttl_ms: 60_000 });
    await Promise.all([
      append('a', { raw: 'a1' }),
      append('b', { raw: 'b1', marker: 'b:seen:1' }),
      append('a', { raw: 'a2', marker: 'a:seen:2', ttl_ms: 5 }),
      append('a', { raw: 'a3' }),
    ]);
    expect(sends).toEqual([
      { keys: ['a', 'a:seen:2'], args: [7, '', 'a1', 5, 'a2', '', 'a3'] },
      { keys: ['b', 'b:seen:1'], args: [7, 60_000, 'b1'] },
    ]);
  });

  it('sends a lone append without waiting for a timer, and rejects every caller of a failed call', async () => {
    let calls = 0;
    const append = createAppendBatcher(
      async () => {
        calls++;
        throw new Error('connection lost');
      },
      { max_len: 7, max_batch: 32, default_ttl_ms: 60_000 },
    );
    const results = await Promise.allSettled([append('s', { raw: 'x' }), append('s', { raw: 'y' })]);
    expect(calls).toBe(1);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    // nextTick, not a timer: the send happens before a zero-delay timer fires
    let sent = false;
    const lone = createAppendBatcher(
      async () => {
        sent = true;
        return ['1-0'];
      },
      { max_len: 7, max_batch: 32, default_ttl_ms: 60_000 },
    );
    const pending = lone('s', { raw: 'z' });
    await new Promise((resolve) => setTimeout(resolve, 0));
    expect(sent).toBe(true);
    expect(await pending).toBe('1-0');
  });
});

describe('append batching on Redis', () => {
  it('appends 1 000 concurrent publishes in call order', async () => {
    const transport = transportAt('order');
    try {
      const ids = await Promise.all(
        Array.from({ length: 1_000 }, (_, n) => transport.append('t.order', JSON.stringify({ n }))),
      );
      const entries = (await admin.xrange(`${redis.prefix}order:{t.order}`, '-', '+')) as Array<[string, string[]]>;
      expect(entries.map(([id]) => id)).toEqual(ids);
      expect(entries.map(([, fields]) => JSON.parse(fields[1] ?? '{}').n)).toEqual(
        Array.from({ length: 1_000 }, (_, n) => n),
      );
    } finally {
      await transport.close();
    }
  });

  it('appends a deduplicated event once, also twice in one batch, and returns the first id', async () => {
    const transport = transportAt('dedupe');
    try {
      const [a, b, c] = await Promise.all([
        transport.append('t.dedupe', 'one', { dedupe_id: 'evt-1' }),
        transport.append('t.dedupe', 'plain'),
        transport.append('t.dedupe', 'one again', { dedupe_id: 'evt-1' }),
      ]);
      expect(c).toBe(a);
      expect(b).not.toBe(a);
      const later = await transport.append('t.dedupe', 'one, later', { dedupe_id: 'evt-1', dedupe_ttl_ms: 60_000 });
      expect(later).toBe(a);
      expect(await transport.streamLength('t.dedupe')).toBe(2);
      expect(await admin.pttl(`${redis.prefix}dedupe:{t.dedupe}:seen:evt-1`)).toBeGreaterThan(0);
    } finally {
      await transport.close();
    }
  });

  it("fails only the failed stream's appends; the others of the same turn land", async () => {
    const transport = transportAt('wrongtype');
    await admin.set(`${redis.prefix}wrongtype:{t.broken}`, 'not a stream');
    try {
      const results = await Promise.allSettled([
        transport.append('t.broken', 'x'),
        transport.append('t.fine', 'y'),
        transport.append('t.broken', 'z'),
      ]);
      expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected']);
      expect(String((results[0] as PromiseRejectedResult).reason)).toMatch(/WRONGTYPE/);
      expect(await transport.streamLength('t.fine')).toBe(1);
    } finally {
      await transport.close();
    }
  });
});

describe('append_batch_max', () => {
  it.each([0, -1, 1.5, 20_000])('refuses %s with E_BUS_CONFIG', (append_batch_max) => {
    expect(() =>
      createRedisStreamsTransport({ append_batch_max }, { connector: createRedisConnector({ options: { port: 1 } }) }),
    ).toThrow(expect.objectContaining({ code: 'E_BUS_CONFIG' }));
  });
});
