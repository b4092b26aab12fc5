import { once } from 'node:events';
import { DB_ERROR_CODES } from '@diana/db';
import { captureLogLines } from '@diana/test-services';
import { createLogger, DianaError, sleep } from '@diana/utils';
import { expect, it, vi } from 'vitest';
import { createMemoryTransport } from '../src/adapters/memory.js';
import { createEventBus } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/conformance-events.js';
import { describeEventBusTransport } from '../src/testing.js';
import type { StreamTransport } from '../src/types.js';

// what must happen eventually: a deadline for a busy machine, not a timing goal
const EVENTUALLY = { timeout: 10_000, interval: 20 };

// One store per namespace: two buses on one namespace are two "processes" on one store.
const stores = new Map<string, StreamTransport>();
describeEventBusTransport('memory', async (namespace) => {
  let store = stores.get(namespace);
  if (!store) {
    store = createMemoryTransport();
    stores.set(namespace, store);
  }
  const shared = store;
  // closing a view must not close the shared store for the other "process"
  return { ...shared, close: async () => {} };
});

// A consumer starting while a peer stops: its first read is of its own name's pending list, and
// the peer's hand-back makes the peer's entries claimable at once. An entry claimed onto the new
// name before that read ends, handled, its ack not yet applied, was read again from the list and
// handled twice (CI saw it on a cluster, where the first read is slow: attempt 3, not 2).
it('no entry is claimed while the own pending list is read, so none is handled twice', async () => {
  const store = createMemoryTransport();
  const view = (): StreamTransport => ({ ...store, close: async () => {} });
  // the starting consumer's own-list read is held, and so are its acks (not yet applied)
  let openOwnRead = () => {};
  const ownRead = new Promise<void>((resolve) => {
    openOwnRead = resolve;
  });
  let holdAcks = true;
  const heldAcks: Array<() => void> = [];
  let claims = 0;
  const starting: StreamTransport = {
    ...view(),
    createReader() {
      const reader = store.createReader();
      return {
        ...reader,
        readGroup: async (args) => {
          if (args.own_pending) await ownRead;
          return reader.readGroup(args);
        },
      };
    },
    claim: (args) => {
      claims++;
      return store.claim(args);
    },
    ack: async (group, deliveries) => {
      if (holdAcks) await new Promise<void>((resolve) => heldAcks.push(resolve));
      return store.ack(group, deliveries);
    },
  };
  const config = { ...CONFORMANCE_CONFIG, claim_idle_ms: 600_000, handler_timeout_ms: 120_000 };
  const leaving = createEventBus(config, { transport: view(), events: CONFORMANCE_EVENTS, consumer_name: 'leaving' });
  const started = new Set<number>();
  leaving.subscribe(
    'work',
    'test.happened',
    async (e, ctx) => {
      started.add(e.payload.n);
      await sleep(60_000, ctx.signal);
    },
    { concurrency: 10 },
  );
  for (let n = 0; n < 5; n++) await leaving.publish('test.happened', { n });
  await vi.waitFor(() => expect(started.size).toBe(5), EVENTUALLY);

  const staying = createEventBus(config, { transport: starting, events: CONFORMANCE_EVENTS, consumer_name: 'staying' });
  const handled: Array<[number, number]> = [];
  staying.subscribe('work', 'test.happened', (e, ctx) => void handled.push([e.payload.n, ctx.attempt]), {
    concurrency: 10,
  });
  try {
    await leaving.close({ timeout_ms: 50 }); // hands the five back: claimable at once
    // five claim intervals while the own-list read is held (what must not happen cannot be waited for)
    await sleep(5 * (config.claim_interval_ms as number));
    openOwnRead();
    holdAcks = false;
    for (const release of heldAcks.splice(0)) release();
    await vi.waitFor(async () => {
      expect(handled).toHaveLength(5);
      expect((await store.groupStats('test.happened'))[0]?.pending).toBe(0);
    }, EVENTUALLY);
    await sleep(3 * (config.claim_interval_ms as number) + (config.block_ms as number));
    expect(claims).toBeGreaterThan(0); // the five came by a claim, after the own list was read
    expect(handled.sort((a, b) => a[0] - b[0])).toEqual([0, 1, 2, 3, 4].map((n) => [n, 2]));
  } finally {
    await Promise.all([leaving.close({ timeout_ms: 50 }), staying.close({ timeout_ms: 50 })]);
  }
});

/** One consumer over `transport`, claiming fast; `handled` lists each run's [n, attempt]. */
const claimingBus = (transport: StreamTransport) => {
  const config = { ...CONFORMANCE_CONFIG, claim_idle_ms: 40, claim_interval_ms: 20 };
  const bus = createEventBus(config, { transport, events: CONFORMANCE_EVENTS, consumer_name: 'one' });
  const handled: Array<[number, number]> = [];
  bus.subscribe('work', 'test.happened', (e, ctx) => void handled.push([e.payload.n, ctx.attempt]));
  return { bus, handled };
};
/** Events 0, 1 and 2, each run once, at its first attempt. */
const ONCE_EACH = [
  [0, 1],
  [1, 1],
  [2, 1],
];

// A handled entry stays pending until its ack is applied. When a stalled machine stretches that
// gap past claim_idle_ms, the consumer's own claim took the entry back and ran it again, though
// its ack was on the way (the likely cause of a CI failure on Node 24: 501 in flight for 500).
// An entry whose ack is queued or being sent is not dispatched.
it('an entry whose ack is on its way is not claimed back and handled again', async () => {
  const store = createMemoryTransport();
  let holdAcks = true;
  const heldAcks: Array<() => void> = [];
  let claimed = 0;
  const slowAcks: StreamTransport = {
    ...store,
    close: async () => {},
    claim: async (args) => {
      const deliveries = await store.claim(args);
      claimed += deliveries.length;
      return deliveries;
    },
    ack: async (group, deliveries) => {
      if (holdAcks) await new Promise<void>((resolve) => heldAcks.push(resolve));
      return store.ack(group, deliveries);
    },
  };
  const { bus, handled } = claimingBus(slowAcks);
  try {
    for (let n = 0; n < 3; n++) await bus.publish('test.happened', { n });
    await vi.waitFor(() => expect(handled).toHaveLength(3), EVENTUALLY);
    // the acks are held while the claim runs: it takes the three back (the fault)
    await vi.waitFor(() => expect(claimed).toBeGreaterThanOrEqual(3), EVENTUALLY);
    holdAcks = false;
    for (const release of heldAcks.splice(0)) release();
    await vi.waitFor(async () => expect((await store.groupStats('test.happened'))[0]?.pending).toBe(0), EVENTUALLY);
    expect(handled.sort((a, b) => a[0] - b[0])).toEqual(ONCE_EACH);
  } finally {
    await bus.close({ timeout_ms: 50 });
  }
});

// The other side of the same gap: a claim that found the entries pending (their acks not yet
// applied) answered only after the acks were done. The acking mark was gone by then, and the
// answer ran the entries again (CI: a Redis Cluster's per-partition claims, on a busy machine,
// handled two of 10 000 events twice). An entry acked while a claim was out is not run from it.
it('an entry acked while a claim was on its way is not run again from the claim', async () => {
  const store = createMemoryTransport();
  let holdAcks = true;
  const heldAcks: Array<() => void> = [];
  let acked = 0;
  // every claim that finds the handled entries while their acks are held answers only when
  // released: on a slow machine several claims run before the test looks (one run saw 680 found)
  const answers: Array<() => void> = [];
  let found = 0;
  let claims = 0;
  const slowClaims: StreamTransport = {
    ...store,
    close: async () => {},
    claim: async (args) => {
      claims++;
      const deliveries = await store.claim(args);
      if (deliveries.length === 0 || !holdAcks) return deliveries;
      // the claim found the handled entries still pending: it answers after their acks landed
      found += deliveries.length;
      await new Promise<void>((resolve) => answers.push(resolve));
      return deliveries;
    },
    ack: async (group, deliveries) => {
      if (holdAcks) await new Promise<void>((resolve) => heldAcks.push(resolve));
      await store.ack(group, deliveries);
      acked += deliveries.length;
    },
  };
  const { bus, handled } = claimingBus(slowClaims);
  try {
    for (let n = 0; n < 3; n++) await bus.publish('test.happened', { n });
    await vi.waitFor(() => expect(handled).toHaveLength(3), EVENTUALLY);
    await vi.waitFor(() => expect(found).toBeGreaterThanOrEqual(3), EVENTUALLY); // the fault: a claim holds them
    holdAcks = false;
    for (const release of heldAcks.splice(0)) release();
    await vi.waitFor(() => expect(acked).toBe(3), EVENTUALLY);
    expect(answers.length).toBeGreaterThan(0);
    for (const answer of answers.splice(0)) answer(); // now the claims' answers arrive, the acks done
    await vi.waitFor(async () => expect((await store.groupStats('test.happened'))[0]?.pending).toBe(0), EVENTUALLY);
    // two claims later the held answer's dispatch (if any) has long run its handlers
    const after = claims;
    await vi.waitFor(() => expect(claims).toBeGreaterThanOrEqual(after + 2), EVENTUALLY);
    expect(handled.sort((a, b) => a[0] - b[0])).toEqual(ONCE_EACH);
  } finally {
    await bus.close({ timeout_ms: 50 });
  }
});

// The consumer's retry policy is the transport's neither: one transport shows it.
it('a handler whose backend is down (E_*_UNAVAILABLE, or caused by one) is retried past max_attempts, not dead-lettered', async () => {
  const bus = createEventBus(CONFORMANCE_CONFIG, { transport: createMemoryTransport(), events: CONFORMANCE_EVENTS });
  let calls = 0;
  const handled: number[] = [];
  bus.subscribe('outage', 'test.happened', (e) => {
    calls++;
    // twice max_attempts failures: the database "restarting", said directly or as a cause
    if (calls <= 6) {
      const down = new DianaError(DB_ERROR_CODES.UNAVAILABLE, 'connect ECONNREFUSED 127.0.0.1:5432');
      throw calls % 2 ? down : new Error('the notice could not be claimed', { cause: down });
    }
    handled.push(e.payload.n);
  });
  try {
    await bus.publish('test.happened', { n: 8 });
    await vi.waitFor(() => expect(handled).toEqual([8]), EVENTUALLY);
    expect(calls).toBe(7); // more failures than max_attempts (3): the outage was retried through
    expect(await bus.dlq.list('test.happened')).toEqual([]);
  } finally {
    await bus.close();
  }
});

// A handler that never settles (a query PgBouncer lost, a lock) showed only at debug: a stranger's
// bots retried notices 30 s late with nothing in the log at info.
it('a handler that runs over its time is said at warn, with its type and group; other failures at debug', async () => {
  const { destination, lines } = captureLogLines();
  const bus = createEventBus(
    { ...CONFORMANCE_CONFIG, handler_timeout_ms: 50 },
    { transport: createMemoryTransport(), events: CONFORMANCE_EVENTS, logger: createLogger({ destination }) },
  );
  let calls = 0;
  bus.subscribe('slow', 'test.happened', async () => {
    calls++;
    if (calls === 1) await new Promise(() => {}); // never settles: the timeout ends it
    if (calls === 2) throw new Error('an ordinary failure');
  });
  try {
    await bus.publish('test.happened', { n: 1 });
    await vi.waitFor(() => expect(calls).toBe(3), EVENTUALLY);
    await vi.waitFor(
      () =>
        expect(lines.filter((l) => l.msg.includes('retrying')).map((l) => [l.level, l.msg, l.group, l.type])).toEqual([
          ['warn', 'handler ran over its time; retrying', 'slow', 'test.happened'],
        ]),
      EVENTUALLY,
    );
  } finally {
    await bus.close();
  }
});

// ordered_by_key promises one run at a time per key. A handler past its timeout is aborted, but
// one that does not stop at once still runs: its retry and its key's next event wait for it.
it('ordered_by_key: a handler still running past its timeout holds its key until it ends', async () => {
  const bus = createEventBus(
    { ...CONFORMANCE_CONFIG, handler_timeout_ms: 200 },
    { transport: createMemoryTransport(), events: CONFORMANCE_EVENTS },
  );
  const log: string[] = [];
  let running = 0;
  let most = 0;
  bus.subscribe(
    'ordered',
    'test.keyed',
    async (event, ctx) => {
      running++;
      most = Math.max(most, running);
      log.push(`start ${event.payload.seq}/${ctx.attempt}`);
      try {
        if (event.payload.seq === 0 && ctx.attempt === 1) {
          // the fault: it sees its abort only when its work is done, 100 ms after the timeout
          await once(ctx.signal, 'abort');
          log.push('timed out 0/1');
          await sleep(100);
        }
      } finally {
        running--;
        log.push(`end ${event.payload.seq}/${ctx.attempt}`);
      }
    },
    { ordered_by_key: true, concurrency: 4 },
  );
  try {
    await bus.publish('test.keyed', { key: 'k', seq: 0 }, { key: 'k' });
    await bus.publish('test.keyed', { key: 'k', seq: 1 }, { key: 'k' });
    await vi.waitFor(() => expect(log).toContain('end 1/1'), EVENTUALLY);
    expect(log).toEqual(['start 0/1', 'timed out 0/1', 'end 0/1', 'start 0/2', 'end 0/2', 'start 1/1', 'end 1/1']);
    expect(most).toBe(1);
  } finally {
    await bus.close();
  }
});

it('ordered_by_key: a handler that never ends holds its key another handler_timeout_ms, then an error says order is not kept', async () => {
  const { destination, lines } = captureLogLines();
  const timeout = 100;
  const bus = createEventBus(
    { ...CONFORMANCE_CONFIG, handler_timeout_ms: timeout },
    { transport: createMemoryTransport(), events: CONFORMANCE_EVENTS, logger: createLogger({ destination }) },
  );
  const log: string[] = [];
  const started = new Map<string, number>();
  bus.subscribe(
    'ordered',
    'test.keyed',
    async (event, ctx) => {
      const run = `${event.payload.seq}/${ctx.attempt}`;
      started.set(run, performance.now());
      log.push(`start ${run}`);
      if (run === '0/1') await new Promise(() => {}); // never settles, deaf to its signal
      log.push(`end ${run}`);
    },
    { ordered_by_key: true, concurrency: 4 },
  );
  try {
    await bus.publish('test.keyed', { key: 'k', seq: 0 }, { key: 'k' });
    await bus.publish('test.keyed', { key: 'k', seq: 1 }, { key: 'k' });
    await vi.waitFor(() => expect(log).toContain('end 1/1'), EVENTUALLY);
    expect(log).toEqual(['start 0/1', 'start 0/2', 'end 0/2', 'start 1/1', 'end 1/1']);
    // its timeout, then another handler_timeout_ms (timers fire late, never early)
    expect((started.get('0/2') ?? 0) - (started.get('0/1') ?? 0)).toBeGreaterThanOrEqual(2 * timeout - 1);
    expect(lines.filter((l) => l.level === 'error').map((l) => [l.msg, l.group, l.type, l.key])).toEqual([
      [
        'handler still runs another handler_timeout_ms after its timeout: the next run of its key starts beside it (order not kept)',
        'ordered',
        'test.keyed',
        'k',
      ],
    ]);
  } finally {
    await bus.close();
  }
});

// The embedded default (one process, no Redis) runs for weeks: its markers and streams must not
// grow with every event it ever carried.
it('drops expired append-once and once() markers as new ones come (they were kept for the life of the process)', async () => {
  const transport = createMemoryTransport();
  for (let i = 0; i < 1_000; i++)
    await transport.append('test.happened', '{}', { dedupe_id: `row-${i}`, dedupe_ttl_ms: 1 });
  for (let i = 0; i < 1_000; i++) await transport.markOnce(`once-${i}`, 1);
  // once they have expired (the clock past their millisecond), the next marker set sweeps them out
  const setBy = Date.now();
  await vi.waitFor(() => expect(Date.now()).toBeGreaterThan(setBy + 1), EVENTUALLY);
  await transport.append('test.happened', '{}', { dedupe_id: 'row-last', dedupe_ttl_ms: 60_000 });
  await transport.markOnce('once-last', 60_000);
  expect(transport.markers()).toBe(2);
  // a marker still alive holds: the same row is not appended twice
  const before = await transport.streamLength('test.happened');
  await transport.append('test.happened', '{}', { dedupe_id: 'row-last', dedupe_ttl_ms: 60_000 });
  expect(await transport.streamLength('test.happened')).toBe(before);
  expect(await transport.markOnce('once-last', 60_000)).toBe(false);
});

it('caps a stream at max_len, dropping the oldest entries (as XADD MAXLEN), never one a group still needs', async () => {
  const transport = createMemoryTransport({ max_len: 10 });
  const ids: string[] = [];
  for (let i = 0; i < 25; i++) ids.push(await transport.append('test.happened', JSON.stringify({ i })));
  expect(await transport.streamLength('test.happened')).toBe(10);
  await transport.ensureGroup('test.happened', 'g');
  const reader = transport.createReader();
  const read = await reader.readGroup({
    group: 'g',
    consumer: 'c',
    types: ['test.happened'],
    count: 100,
    block_ms: 10,
  });
  expect(read.map((d) => d.entry_id)).toEqual(ids.slice(15));
  // the group holds them (pending) and more come: none of the 10 is dropped, nor the 20 unread
  const later: string[] = [];
  for (let i = 0; i < 20; i++) later.push(await transport.append('test.happened', JSON.stringify({ i })));
  expect(await transport.streamLength('test.happened')).toBe(30);
  // acknowledged, they may go: the next append caps the stream again
  await transport.ack('g', read);
  await transport.append('test.happened', '{}');
  expect(await transport.streamLength('test.happened')).toBe(21);
  const rest = await reader.readGroup({
    group: 'g',
    consumer: 'c',
    types: ['test.happened'],
    count: 100,
    block_ms: 10,
  });
  expect(rest.map((d) => d.entry_id).slice(0, 20)).toEqual(later);
  await reader.close();
});
