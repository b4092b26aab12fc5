import { createRedisConnector } from '@diana/redis';
import { useTestRedis } from '@diana/test-services';
import { sleep } from '@diana/utils';
import { Redis } from 'ioredis';
import { expect, it, vi } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus, type EventBusService } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/conformance-events.js';
import { describeEventBusTransport } from '../src/testing.js';
import type { StreamTransport } from '../src/types.js';

const redis = await useTestRedis('event-bus');
const connector = () => createRedisConnector({ options: { host: '127.0.0.1', port: Number(new URL(redis.url).port) } });

// Each namespace is a key prefix on the shared test Redis; two transports on one prefix are
// two processes on one Redis.
describeEventBusTransport('redis-streams', async (namespace) =>
  createRedisStreamsTransport({ prefix: `${redis.prefix}${namespace}:` }, { connector: connector() }),
);

// A stop can cut off a blocking read the server has already answered: the entries are on the
// consumer's name, and its process never saw them. The stop hands them back with the rest.
it('entries on a stopping consumer’s name that it never saw (a read the stop cut off) go to a peer at once', async () => {
  const prefix = `${redis.prefix}cut:`;
  // claim_idle_ms far beyond the test: only the hand-back brings the entries to the peer
  const config = { ...CONFORMANCE_CONFIG, claim_idle_ms: 600_000, handler_timeout_ms: 120_000 };
  const transports = [0, 1].map(() => createRedisStreamsTransport({ prefix }, { connector: connector() }));
  const [leaving, staying] = ['leaving', 'staying'].map((consumer_name, i) =>
    createEventBus(config, { transport: transports[i] as StreamTransport, events: CONFORMANCE_EVENTS, consumer_name }),
  ) as [EventBusService<typeof CONFORMANCE_EVENTS>, EventBusService<typeof CONFORMANCE_EVENTS>];
  const raw = new Redis(redis.url);
  try {
    // "leaving" works on entry 0 with all its concurrency: its loop does not read meanwhile
    const seenByLeaving: number[] = [];
    leaving.subscribe(
      'cut',
      'test.happened',
      async (e, ctx) => {
        seenByLeaving.push(e.payload.n);
        await sleep(60_000, ctx.signal);
      },
      { concurrency: 1 },
    );
    await leaving.publish('test.happened', { n: 0 });
    await vi.waitFor(() => expect(seenByLeaving).toHaveLength(1), { timeout: 10_000, interval: 20 });
    for (let n = 1; n <= 5; n++) await leaving.publish('test.happened', { n });
    // the read whose answer never reached the process: the server gives five entries to its name
    const read = (await raw.xreadgroup(
      'GROUP',
      'cut',
      'leaving',
      'COUNT',
      10,
      'STREAMS',
      `${prefix}{test.happened}`,
      '>',
    )) as Array<[string, unknown[]]>;
    expect(read[0]?.[1]).toHaveLength(5);

    const handled = new Map<number, number>();
    staying.subscribe('cut', 'test.happened', (e, ctx) => void handled.set(e.payload.n, ctx.attempt), {
      concurrency: 10,
    });
    await leaving.close({ timeout_ms: 50 });
    expect(seenByLeaving).toEqual([0]); // the fault: five entries on its name it never saw
    await vi.waitFor(() => expect(handled.size).toBe(6), { timeout: 10_000, interval: 20 });
    expect([...handled.keys()].sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect([...handled.values()]).toEqual([2, 2, 2, 2, 2, 2]); // each delivered twice, as it was
  } finally {
    await Promise.all([leaving.close({ timeout_ms: 100 }), staying.close({ timeout_ms: 100 })]);
    await Promise.all(transports.map((t) => t.close()));
    raw.disconnect();
  }
});

// A handled entry's XACK goes out with the group's next read, in one write on the reader's
// connection: one round trip per delivery, not two (the ack used to go alone on the command
// connection). The last ack waits for the read under way to return: within block_ms. With a
// backlog (reads answer at once) acks go beside the reads, on the command connection.
it('acks ride the group’s next read once it is caught up: on the reader’s connection, right before its XREADGROUP', async () => {
  const prefix = `${redis.prefix}ride:`;
  const stream = `${prefix}{test.happened}`;
  const transport = createRedisStreamsTransport({ prefix }, { connector: connector() });
  // the conformance config: block_ms 50, a quarter of claim_idle_ms at most (else acks go alone)
  const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS });
  const raw = new Redis(redis.url);
  // ioredis turns a connection to monitoring a microtask after MONITOR's reply: a line of other
  // tests' traffic read in the same chunk is taken for a reply and reported as "Command queue state
  // error" (which made `redis.monitor()` reject, once in CI). Those lines come before this test
  // does anything; that error is let pass, any other fails the test.
  const monitor = new Redis(redis.url, { monitor: true });
  const monitorErrors: Error[] = [];
  monitor.on('error', (error: Error) => {
    if (!error.message.startsWith('Command queue state error')) monitorErrors.push(error);
  });
  await new Promise((resolve) => monitor.once('monitoring', resolve));
  const seen: Array<{ client: string; command: string; args: string[] }> = [];
  monitor.on('monitor', (_time: string, args: string[], client: string) => {
    if (args.some((arg) => arg.startsWith(prefix))) seen.push({ client, command: String(args[0]).toLowerCase(), args });
  });
  const pending = async () => ((await raw.xpending(stream, 'ride')) as [number])[0];
  const acked = (commands: typeof seen) => commands.filter((c) => c.command === 'xack');
  // What the server ran up to now: MONITOR's lines come in the server's order on their own socket,
  // which this process may read after another connection's later reply (XPENDING's, above). A
  // marker command is waited for, and everything before it is taken.
  let marks = 0;
  const ranSoFar = async () => {
    const marker = `${prefix}mark:${++marks}`;
    await raw.exists(marker);
    await vi.waitFor(() => expect(seen.some((c) => c.args.includes(marker))).toBe(true), {
      timeout: 5_000,
      interval: 5,
    });
    return seen.splice(0, seen.findIndex((c) => c.args.includes(marker)) + 1);
  };
  try {
    const handled: number[] = [];
    // a backlog first: 200 entries before the group reads, 8 at a time
    await Promise.all(Array.from({ length: 200 }, (_, n) => bus.publish('test.happened', { n: 1_000 + n })));
    bus.subscribe('ride', 'test.happened', (e) => void handled.push(e.payload.n), { concurrency: 8 });
    await vi.waitFor(() => expect(handled).toHaveLength(200), { timeout: 10_000, interval: 5 });
    await vi.waitFor(async () => expect(await pending()).toBe(0), { timeout: 5_000, interval: 20 });
    const backlog = await ranSoFar();
    // A read issued while the backlog's handlers ran asked for less (the room left): one entry
    // would fill it and read as a backlog. Once every ack is in (above), the next read asks for all
    // the room; the phase below starts after it is sent.
    await vi.waitFor(() => expect(seen.some((c) => c.command === 'xreadgroup')).toBe(true), {
      timeout: 5_000,
      interval: 5,
    });
    backlog.push(...seen.splice(0));
    // then one at a time: each entry comes in a read of its own, and its ack rides the next one
    for (let n = 0; n < 10; n++) {
      await bus.publish('test.happened', { n });
      await vi.waitFor(() => expect(handled).toHaveLength(201 + n), { timeout: 10_000, interval: 5 });
    }
    await vi.waitFor(async () => expect(await pending()).toBe(0), { timeout: 5_000, interval: 20 });
    const caughtUp = await ranSoFar();
    const readers = new Set([...backlog, ...caughtUp].filter((c) => c.command === 'xreadgroup').map((c) => c.client));
    // every entry acknowledged once
    expect(acked([...backlog, ...caughtUp]).flatMap((c) => c.args.slice(3))).toHaveLength(210);
    // the backlog's acks went (at least partly) beside the reads, from the command connection
    expect(acked(backlog).some((c) => !readers.has(c.client))).toBe(true);
    // caught up, each ack rode a read: from the reader's connection, its XREADGROUP right behind
    const riding = acked(caughtUp);
    expect(riding.length).toBeGreaterThan(0);
    for (const ack of riding) {
      expect(readers.has(ack.client)).toBe(true);
      const after = caughtUp.slice(caughtUp.indexOf(ack) + 1).find((c) => c.client === ack.client);
      expect(after?.command).toBe('xreadgroup');
    }
    expect(monitorErrors).toEqual([]);
  } finally {
    await bus.close({ timeout_ms: 1_000 });
    await transport.close();
    monitor.disconnect();
    raw.disconnect();
  }
});

// XINFO GROUPS answers nil for a group's lag once an entry past its position was deleted (an
// operator's XDEL): the lag is then counted, not reported as 0 ("caught up").
it('a lag Redis cannot tell is counted, not reported as 0', async () => {
  const prefix = `${redis.prefix}lag:`;
  const transport = createRedisStreamsTransport({ prefix }, { connector: connector() });
  const raw = new Redis(redis.url);
  const stream = `${prefix}{test.happened}`;
  try {
    await transport.ensureGroup('test.happened', 'behind');
    // 2 500 entries: the count walks the stream a thousand at a time
    const pipeline = raw.pipeline();
    for (let n = 0; n < 2_500; n++) pipeline.xadd(stream, '*', 'e', String(n));
    const ids = (await pipeline.exec())?.map(([, id]) => id as string) ?? [];
    await raw.xdel(stream, ids[1_000] as string);
    const info = (await raw.xinfo('GROUPS', stream)) as Array<Array<string | number | null>>;
    const field = (name: string) => info[0]?.[(info[0]?.indexOf(name) ?? -2) + 1];
    expect(field('lag')).toBeNull(); // the fault: Redis cannot tell
    expect(await transport.groupStats('test.happened')).toEqual([
      expect.objectContaining({ group: 'behind', lag: 2_499, pending: 0 }),
    ]);
  } finally {
    await transport.close();
    await raw.del(stream);
    raw.disconnect();
  }
});

// XAUTOCLAIM looks at 10 × COUNT pending entries at most: entries of a consumer that died, lying
// behind many a live consumer's (not idle while it works on them), are reached only by claims
// that go on from where the last one stopped.
it('claims reach idle entries lying behind more live pending entries than one XAUTOCLAIM looks at', async () => {
  const prefix = `${redis.prefix}claim-cursor:`;
  const transport = createRedisStreamsTransport({ prefix }, { connector: connector() });
  const raw = new Redis(redis.url);
  const stream = `${prefix}{test.happened}`;
  try {
    await transport.ensureGroup('test.happened', 'g');
    const pipeline = raw.pipeline();
    for (let n = 0; n < 253; n++) pipeline.xadd(stream, '*', 'e', String(n));
    const ids = (await pipeline.exec())?.map(([, id]) => id as string) ?? [];
    // 250 entries on a live consumer, then 3 on one that died an hour ago
    await raw.xreadgroup('GROUP', 'g', 'live', 'COUNT', 250, 'STREAMS', stream, '>');
    await raw.xreadgroup('GROUP', 'g', 'dead', 'COUNT', 3, 'STREAMS', stream, '>');
    const dead = ids.slice(250);
    await raw.xclaim(stream, 'g', 'dead', 0, ...dead, 'IDLE', 3_600_000, 'JUSTID');

    // room for one entry per claim, as a busy survivor has: one XAUTOCLAIM looks at 10 entries
    const claimed: string[] = [];
    for (let pass = 0; pass < 10 && claimed.length < 3; pass++) {
      const got = await transport.claim({
        group: 'g',
        consumer: 'survivor',
        types: ['test.happened'],
        min_idle_ms: 60_000,
        count: 1,
      });
      claimed.push(...got.map((d) => d.entry_id));
    }
    expect(claimed).toEqual(dead);
    // the live consumer's entries stayed its own
    const live = (await raw.xpending(stream, 'g', '-', '+', 1_000, 'live')) as unknown[];
    expect(live).toHaveLength(250);
  } finally {
    await transport.close();
    await raw.del(stream);
    raw.disconnect();
  }
});

// replay without ids replays every letter there is, however many: it stopped at 10 000 and
// said nothing of the rest
it('replays every dead letter of a type, past 10 000', async () => {
  const prefix = `${redis.prefix}replay-all:`;
  const transport = createRedisStreamsTransport({ prefix }, { connector: connector() });
  const raw = new Redis(redis.url);
  const stream = `${prefix}{test.happened}`;
  const dlq = `${stream}:dlq`;
  try {
    const letters = 10_050;
    const pipeline = raw.pipeline();
    for (let n = 0; n < letters; n++) {
      pipeline.xadd(
        dlq,
        '*',
        'e',
        String(n),
        'group',
        'g',
        'error',
        'E',
        'attempts',
        3,
        'failed_at',
        '',
        'original_id',
        '',
      );
    }
    await pipeline.exec();
    expect(await transport.replayDeadLetters('test.happened')).toBe(letters);
    expect(await raw.xlen(dlq)).toBe(0);
    expect(await raw.xlen(stream)).toBe(letters);
    const [first] = (await raw.xrange(stream, '-', '+', 'COUNT', 1)) as Array<[string, string[]]>;
    const [last] = (await raw.xrevrange(stream, '+', '-', 'COUNT', 1)) as Array<[string, string[]]>;
    expect([first?.[1], last?.[1]]).toEqual([
      ['e', '0', 'g', 'g'],
      ['e', String(letters - 1), 'g', 'g'],
    ]);
  } finally {
    await transport.close();
    await raw.del(stream, dlq);
    raw.disconnect();
  }
});

// purge without ids answers how many it deleted, and deletes only those: it was XLEN then DEL,
// so a letter written between the two was deleted and not counted. The hook writes one letter
// right after the purge's first command answers, before its next is sent.
it('purge of a whole type counts every letter it deletes; one written meanwhile is counted or kept', async () => {
  const prefix = `${redis.prefix}purge-all:`;
  const dlq = `${prefix}{test.happened}:dlq`;
  const raw = new Redis(redis.url);
  const letter = () =>
    raw.xadd(dlq, '*', 'e', '{}', 'group', 'g', 'error', 'E', 'attempts', 3, 'failed_at', '', 'original_id', '');
  let hook: (() => Promise<unknown>) | undefined;
  const hooked = connector();
  const command = hooked.command.bind(hooked);
  hooked.command = (options) => {
    const client = command(options);
    const send = client.sendCommand.bind(client);
    let held: Promise<unknown> | undefined;
    client.sendCommand = ((cmd: { promise: Promise<unknown> }, ...rest: unknown[]) => {
      if (held) {
        // sent once the hook's letter is written, in the order asked
        const after = held.then(() => send(cmd as never, ...(rest as [])));
        held = after;
        return cmd.promise;
      }
      const run = hook;
      hook = undefined;
      const sent = send(cmd as never, ...(rest as []));
      if (run) held = cmd.promise.then(run, run);
      return sent;
    }) as typeof client.sendCommand;
    return client;
  };
  const transport = createRedisStreamsTransport({ prefix }, { connector: hooked });
  try {
    await transport.countDeadLetters('test.happened'); // connected: the hook sees the purge's commands only
    await letter();
    await letter();
    hook = letter;
    const purged = await transport.purgeDeadLetters('test.happened');
    expect(hook).toBeUndefined(); // the letter was written during the purge
    const left = await raw.xlen(dlq);
    expect(purged + left).toBe(3);
    expect(purged).toBe(2);
  } finally {
    await transport.close();
    await raw.del(dlq);
    raw.disconnect();
  }
});
