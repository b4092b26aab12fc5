import { connect } from 'node:net';
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

/** The encoded envelopes of a call's args (MAXLEN, then per stream: a floor, a count, then ttl/raw pairs). */
const entriesOf = (args: Array<string | number>) => {
  const raws: Array<string | number> = [];
  for (let i = 1; i < args.length; ) {
    const n = Number(args[i + 1]);
    for (let j = 0; j < n; j++) raws.push(args[i + 3 + 2 * j] as string | number);
    i += 2 + 2 * n;
  }
  return raws;
};

describe('append batching (recorded sends)', () => {
  const recording = () => {
    const sends: Array<{ keys: string[]; args: Array<string | number> }> = [];
    const send: SendBatch = async (keys, args) => {
      sends.push({ keys, args });
      return Array.from({ length: entriesOf(args).length }, (_, i) => `${sends.length}-${i}`);
    };
    return { sends, send };
  };

  it("sends one turn's appends to a stream as one call, in order, at most max_batch each", async () => {
    const { sends, send } = recording();
    const append = createAppendBatcher(send, {
      keep_key: (stream) => `${stream}:keep`,
      max_len: 1_000,
      max_batch: 32,
      default_ttl_ms: 60_000,
    });
    const ids = await Promise.all(Array.from({ length: 100 }, (_, n) => append('s', { raw: `e${n}` })));
    expect(sends.map((s) => entriesOf(s.args).length)).toEqual([32, 32, 32, 4]);
    expect(sends.flatMap((s) => entriesOf(s.args))).toEqual(Array.from({ length: 100 }, (_, n) => `e${n}`));
    expect(new Set(ids).size).toBe(100);
  });

  it('sends each append on its own with max_batch 1', async () => {
    const { sends, send } = recording();
    const append = createAppendBatcher(send, {
      keep_key: (stream) => `${stream}:keep`,
      max_len: 7,
      max_batch: 1,
      default_ttl_ms: 60_000,
    });
    await Promise.all([append('s', { raw: '1' }), append('s', { raw: '2' }), append('s', { raw: '3' })]);
    expect(sends.map((s) => s.args)).toEqual([
      [7, '', 1, '', '1'],
      [7, '', 1, '', '2'],
      [7, '', 1, '', '3'],
    ]);
  });

  it('keeps streams apart and puts each marker key in the order of its entries', async () => {
    const { sends, send } = recording();
    const append = createAppendBatcher(send, {
      keep_key: (stream) => `${stream}:keep`,
      max_len: 7,
      max_batch: 32,
      default_ttl_ms: 60_000,
    });
    await Promise.all([
      append('a', { raw: 'a1' }),
      append('b', { raw: 'b1', marker: 'b:seen:1' }),
      append('a', { raw: 'a2', marker: 'a:seen:2', ttl_ms: 5 }),
      append('a', { raw: 'a3' }),
    ]);
    expect(sends).toEqual([
      { keys: ['a', 'a:keep', 'a:seen:2'], args: [7, '', 3, '', 'a1', 5, 'a2', '', 'a3'] },
      { keys: ['b', 'b:keep', 'b:seen:1'], args: [7, '', 1, 60_000, 'b1'] },
    ]);
  });

  it('with one_call, sends every stream of a turn in one call, each reply to its own caller', async () => {
    const { sends, send } = recording();
    const append = createAppendBatcher(send, {
      keep_key: (stream) => `${stream}:keep`,
      max_len: 7,
      max_batch: 32,
      default_ttl_ms: 60_000,
      one_call: true,
    });
    const ids = await Promise.all([
      append('a', { raw: 'a1' }),
      append('b', { raw: 'b1', marker: 'b:seen:1' }),
      append('a', { raw: 'a2', marker: 'a:seen:2', ttl_ms: 5 }),
      append('c', { raw: 'c1' }),
    ]);
    expect(sends).toEqual([
      {
        keys: ['a', 'a:keep', 'a:seen:2', 'b', 'b:keep', 'b:seen:1', 'c', 'c:keep'],
        args: [7, '', 2, '', 'a1', 5, 'a2', '', 1, 60_000, 'b1', '', 1, '', 'c1'],
      },
    ]);
    // replies come in the call's order (a1, a2, b1, c1); each caller gets its own
    expect(ids).toEqual(['1-0', '1-2', '1-1', '1-3']);
  });

  it('with one_call, puts at most max_batch entries in a call', async () => {
    const { sends, send } = recording();
    const append = createAppendBatcher(send, {
      keep_key: (stream) => `${stream}:keep`,
      max_len: 7,
      max_batch: 4,
      default_ttl_ms: 60_000,
      one_call: true,
    });
    const streams = ['a', 'a', 'a', 'b', 'b', 'c', 'd', 'd', 'd'];
    const ids = await Promise.all(streams.map((stream, n) => append(stream, { raw: `${stream}${n}` })));
    // a (3) then b (2) would make 5: a alone; b, c (3) then d (3) would make 6: b, c; then d
    expect(sends.map((s) => s.keys)).toEqual([
      ['a', 'a:keep'],
      ['b', 'b:keep', 'c', 'c:keep'],
      ['d', 'd:keep'],
    ]);
    expect(sends.flatMap((s) => entriesOf(s.args))).toEqual(streams.map((stream, n) => `${stream}${n}`));
    expect(new Set(ids).size).toBe(streams.length);
  });

  it('sends a lone append without waiting for a timer, and rejects every caller of a failed call', async () => {
    let calls = 0;
    const append = createAppendBatcher(
      async () => {
        calls++;
        throw new Error('connection lost');
      },
      { keep_key: (stream) => `${stream}:keep`, max_len: 7, max_batch: 32, default_ttl_ms: 60_000 },
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
      { keep_key: (stream) => `${stream}:keep`, max_len: 7, max_batch: 32, default_ttl_ms: 60_000 },
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

  it("on one server, sends one turn's appends to several streams as one script call", async () => {
    const transport = transportAt('onecall');
    // MONITOR on a plain socket (ioredis' monitor() can trip over its own ready check): the
    // commands clients sent, one line each (those a script ran show as "[0 lua]": left out)
    const monitor = connect(Number(new URL(redis.url).port), new URL(redis.url).hostname);
    let seen = '';
    monitor.on('data', (chunk) => (seen += chunk.toString('latin1')));
    monitor.write('MONITOR\r\n');
    const deadline = Date.now() + 5_000;
    const poll = async (done: () => boolean, what: string) => {
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`${what} within 5 s`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    await poll(() => seen.startsWith('+OK'), 'MONITOR answered');
    const scriptCalls = () =>
      seen
        .split('\r\n')
        .filter((line) => /^\+\S+ \[\d+ [^l]\S*\] "eval/i.test(line) && line.includes(`${redis.prefix}onecall:`));
    try {
      const ids = await Promise.all([
        transport.append('t.a', 'x'),
        transport.append('t.b', 'y'),
        transport.append('t.a', 'z'),
      ]);
      const entries = async (type: string) =>
        ((await admin.xrange(`${redis.prefix}onecall:{${type}}`, '-', '+')) as Array<[string, string[]]>).map(
          ([id, fields]) => [id, fields[1]],
        );
      expect(await entries('t.a')).toEqual([
        [ids[0], 'x'],
        [ids[2], 'z'],
      ]);
      expect(await entries('t.b')).toEqual([[ids[1], 'y']]);
      // MONITOR shows a command once it ran: poll for it. The first call of a script is an
      // EVAL (the server did not have it yet), later ones EVALSHA.
      await poll(() => scriptCalls().length > 0, 'the script call shown');
      expect(scriptCalls()).toHaveLength(1);
      expect(scriptCalls()[0]).toContain(`"${redis.prefix}onecall:{t.a}"`);
      expect(scriptCalls()[0]).toContain(`"${redis.prefix}onecall:{t.b}"`);
    } finally {
      monitor.destroy();
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
