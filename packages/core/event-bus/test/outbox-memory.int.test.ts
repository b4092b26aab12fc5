// The outbox relay over the memory transport (the app's embedded default): its entries die with
// the process, so a row is marked relayed only once every group has handled it.
import { createPostgres, type Database, DB_MIGRATIONS, migrate } from '@diana/db';
import { useTestDatabase } from '@diana/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryTransport } from '../src/adapters/memory.js';
import { createEventBus } from '../src/bus.js';
import { createOutboxRelay, EVENT_BUS_MIGRATIONS } from '../src/relay.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/testing.js';

const testDb = await useTestDatabase('outbox-memory');
let db: Database;
beforeAll(async () => {
  db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS]);
});
afterAll(() => db.close());

const waitFor = async (check: () => Promise<boolean> | boolean, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};
const relayedOf = async (n: number) => {
  const [row] = await db.sql<{ relayed: boolean }[]>`
    select published_at is not null as relayed from event_outbox
    where type = 'test.happened' and (envelope::jsonb -> 'payload' ->> 'n')::int = ${n}`;
  return row?.relayed;
};

/** A process of the app: a memory transport, its bus, its relay (started once subscribed). */
function startProcess() {
  const transport = createMemoryTransport();
  const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS, db });
  let subscribed!: () => void;
  const start = new Promise<void>((resolve) => {
    subscribed = resolve;
  });
  let passes = 0;
  const relay = createOutboxRelay(
    { outbox_poll_ms: 20 },
    {
      db,
      transport,
      start,
      afterAppend: async () => {
        passes++;
      },
    },
  );
  const stop = async () => {
    await relay.close({ timeout_ms: 500 });
    await bus.close({ timeout_ms: 100 });
    await transport.close();
  };
  return { transport, bus, subscribed, stop, passes: () => passes };
}

describe('outbox relay over the memory transport', () => {
  it('marks a row relayed once its handler ran: a process that dies before leaves it for the next start', async () => {
    // the first process takes the event and dies in its handler (never acknowledged)
    const first = startProcess();
    let began = 0;
    first.bus.subscribe('rewards', 'test.happened', () => {
      began++;
      return new Promise<void>(() => {}); // the process dies here
    });
    first.subscribed();
    await db.transaction(() => first.bus.publish('test.happened', { n: 101 }));
    await waitFor(() => began === 1);
    // five passes later: still not relayed, and appended once (in flight, not picked again)
    const passes = first.passes();
    await waitFor(() => first.passes() >= passes + 5);
    expect(await relayedOf(101)).toBe(false); // before: marked relayed with the append, lost with the process
    expect(await first.transport.streamLength('test.happened')).toBe(1);
    await first.stop();

    // the next start relays it again, and its handler runs to the end
    const second = startProcess();
    const got: number[] = [];
    second.bus.subscribe('rewards', 'test.happened', (event) => {
      got.push(event.payload.n);
    });
    second.subscribed();
    try {
      await waitFor(() => got.includes(101));
      await waitFor(async () => (await relayedOf(101)) === true);
      expect(got).toEqual([101]);
    } finally {
      await second.stop();
    }
  });

  it('marks a row whose type no group reads at once, and one every group has handled', async () => {
    const proc = startProcess();
    const seen: string[] = [];
    proc.bus.subscribe('a', 'test.happened', (e) => void seen.push(`a${e.payload.n}`));
    proc.bus.subscribe('b', 'test.happened', (e) => void seen.push(`b${e.payload.n}`));
    proc.subscribed();
    try {
      await db.transaction(async () => {
        await proc.bus.publish('test.happened', { n: 202 });
        await proc.bus.publish('test.keyed', { key: 'k', seq: 1 }); // no group reads it
      });
      await waitFor(async () => (await relayedOf(202)) === true);
      expect(seen.sort()).toEqual(['a202', 'b202']);
      await waitFor(async () => {
        const [row] = await db.sql<{ n: number }[]>`
          select count(*)::int as n from event_outbox where type = 'test.keyed' and published_at is null`;
        return row?.n === 0;
      });
    } finally {
      await proc.stop();
    }
  });
});
