import { createPostgres, createUserRepository, DB_MIGRATIONS, migrate } from '@diana/db';
import { createEventBus, createMemoryTransport, EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { startTcpProxy, useTestDatabase } from '@diana/test-services';
import { isDianaError } from '@diana/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GAMIFICATION_EVENTS } from '../src/events.js';
import { checkLedgerInvariants, createLedger } from '../src/ledger.js';
import { GAMIFICATION_MIGRATIONS } from '../src/migrations.js';

const testDb = await useTestDatabase('ledger');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 20 });
const bus = createEventBus({}, { transport: createMemoryTransport(), events: GAMIFICATION_EVENTS, db });
// The bot's days in the zone where it is about noon now (Etc/GMT-N is N hours east of UTC):
// a test of today's cap never straddles a midnight (CI at 23:00 UTC met Madrid's between two awards).
const east = 12 - new Date().getUTCHours();
const NOON_ZONE = east === 0 ? 'Etc/GMT' : `Etc/GMT${east > 0 ? '-' : '+'}${Math.abs(east)}`;
const ledger = createLedger({ db, bus, timezone: NOON_ZONE, caps: () => ({ free: 200, vip: 500 }) });
const users = createUserRepository(db);
let telegram = 1;
const newUser = async () => (await users.upsertFromTelegram({ id: telegram++, first_name: 'U' })).user.id;
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, GAMIFICATION_MIGRATIONS]);
});
afterAll(async () => {
  await bus.close();
  await db.close();
});
const gate = () => {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
};

describe('the besitos ledger', () => {
  it('200 concurrent spends of 1 against a balance of 100 → exactly 100 succeed, balance 0, never negative', async () => {
    const user = await newUser();
    await db.transaction((tx) =>
      ledger.award(tx, { user_id: user, amount: 100, source: 'seed', source_event_id: `seed:${user}`, kind: 'gift' }),
    );
    const start = gate();
    const spends = Array.from({ length: 200 }, async (_, i) => {
      await start.opened;
      return db
        .transaction((tx) =>
          ledger.spend(tx, { user_id: user, amount: 1, source: 'test', source_event_id: `spend:${user}:${i}` }),
        )
        .then(
          () => 'ok',
          (error: unknown) => (isDianaError(error, 'E_GAMIFICATION_INSUFFICIENT_BESITOS') ? 'refused' : String(error)),
        );
    });
    start.open();
    const results = await Promise.all(spends);
    expect(results.filter((r) => r === 'ok')).toHaveLength(100);
    expect(results.filter((r) => r === 'refused')).toHaveLength(100); // they contended for the same 100
    expect(await ledger.balance(user)).toBe(0);
    expect(await checkLedgerInvariants(db)).toEqual({ ok: true, problems: [] });
  });

  it('sends the balance lock and the award (and a spend) in one write; the lock is still held first', async () => {
    // through a proxy that counts the client's writes, on a session of its own (not a pooler:
    // without prepared statements a parameter costs a round trip of its own)
    const direct = new URL(testDb.direct_url);
    await using proxy = await startTcpProxy(Number(direct.port || 5432));
    direct.hostname = '127.0.0.1';
    direct.port = String(proxy.port);
    const counted = createPostgres({ url: direct.toString(), pool_max: 1 });
    const user = await newUser();
    const countedBus = createEventBus(
      {},
      { transport: createMemoryTransport(), events: GAMIFICATION_EVENTS, db: counted },
    );
    try {
      const countedLedger = createLedger({
        db: counted,
        bus: countedBus,
        timezone: NOON_ZONE,
        caps: () => ({ free: 200, vip: 500 }),
      });
      const pay = (n: number) =>
        counted.transaction((tx) =>
          countedLedger.award(tx, {
            user_id: user,
            amount: 5,
            source: 'test',
            source_event_id: `one-write:${user}:${n}`,
          }),
        );
      // a first award creates the balance row in the same write, and prepares the statements
      expect(await pay(1)).toEqual({ paid: 5, balance: 5, duplicate: false });
      const before = proxy.client_chunks;
      expect(await pay(2)).toEqual({ paid: 5, balance: 10, duplicate: false });
      // BEGIN, the row's insert, its lock and the award in one write; the outbox row with COMMIT
      // (the lock awaited first: three)
      expect(proxy.client_chunks - before).toBe(2);
      const spend = () =>
        counted.transaction((tx) =>
          countedLedger.spend(tx, { user_id: user, amount: 4, source: 'test', source_event_id: `one-write:${user}:s` }),
        );
      await spend();
      const beforeSpend = proxy.client_chunks;
      // a second spend of the same source: a duplicate (nothing published), one write then COMMIT
      expect(await spend()).toEqual({ balance: 6, duplicate: true });
      expect(proxy.client_chunks - beforeSpend).toBe(2);
    } finally {
      await countedBus.close();
      await counted.close();
    }
    expect(await ledger.balance(user)).toBe(6);
    expect(await checkLedgerInvariants(db)).toEqual({ ok: true, problems: [] });
  });

  it('pays a source event once, however often and however concurrently it arrives', async () => {
    const user = await newUser();
    const start = gate();
    const awards = Array.from({ length: 5 }, async () => {
      await start.opened;
      return db.transaction((tx) =>
        ledger.award(tx, { user_id: user, amount: 7, source: 'decision', source_event_id: 'event-7' }),
      );
    });
    start.open();
    const results = await Promise.all(awards);
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(await ledger.balance(user)).toBe(7);
    const [row] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from besitos_transactions where source_event_id = 'event-7'`;
    expect(row?.n).toBe(1);
  });

  it('stops earnings at the daily cap of the role (free 200, VIP 500); gifts are not capped', async () => {
    const free = await newUser();
    const pay = (user: string, amount: number, id: string, kind: 'earn' | 'gift' = 'earn') =>
      db.transaction((tx) => ledger.award(tx, { user_id: user, amount, source: 'test', source_event_id: id, kind }));
    expect((await pay(free, 150, 'cap-1')).paid).toBe(150);
    expect((await pay(free, 100, 'cap-2')).paid).toBe(50);
    expect((await pay(free, 10, 'cap-3')).paid).toBe(0);
    expect((await pay(free, 10, 'cap-4', 'gift')).paid).toBe(10);
    const vip = await newUser();
    await users.setRole(vip, 'VIP');
    expect((await pay(vip, 450, 'cap-5')).paid).toBe(450);
    expect((await pay(vip, 100, 'cap-6')).paid).toBe(50);
    expect(await checkLedgerInvariants(db)).toEqual({ ok: true, problems: [] });
  });

  it('20 concurrent first earnings of a new user stop at the cap: each counts the others once it holds the lock', async () => {
    const user = await newUser(); // no balance row yet: the concurrent awards create it too
    const start = gate();
    let running = 0;
    let overlapped = 0;
    const awards = Array.from({ length: 20 }, async (_, i) => {
      await start.opened;
      return db.transaction(async (tx) => {
        running++;
        overlapped = Math.max(overlapped, running);
        try {
          return await ledger.award(tx, {
            user_id: user,
            amount: 30,
            source: 'test',
            source_event_id: `cc:${user}:${i}`,
          });
        } finally {
          running--;
        }
      });
    });
    start.open();
    const paid = (await Promise.all(awards)).map((r) => r.paid);
    expect(overlapped).toBeGreaterThan(1); // they contended
    // the free cap is 200: six awards of 30, one of 20, the rest nothing (without the lock held
    // before the award's snapshot, each saw no earnings yet and paid 30: 600)
    expect(paid.reduce((a, b) => a + b, 0)).toBe(200);
    expect(paid.filter((p) => p === 30)).toHaveLength(6);
    expect(paid.filter((p) => p === 20)).toHaveLength(1);
    expect(await ledger.balance(user)).toBe(200);
    expect(await checkLedgerInvariants(db)).toEqual({ ok: true, problems: [] });
  });

  it('refuses bad amounts, and a spend above the balance writes nothing', async () => {
    const user = await newUser();
    const error = await db
      .transaction((tx) => ledger.award(tx, { user_id: user, amount: -5, source: 'x', source_event_id: 'neg' }))
      .catch((e: unknown) => e);
    expect(isDianaError(error, 'E_GAMIFICATION_LEDGER_INVALID')).toBe(true);
    const refused = await db
      .transaction((tx) => ledger.spend(tx, { user_id: user, amount: 1, source: 'x', source_event_id: 'too-much' }))
      .catch((e: unknown) => e);
    expect(isDianaError(refused, 'E_GAMIFICATION_INSUFFICIENT_BESITOS')).toBe(true);
    const [row] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from besitos_transactions where user_id = ${user}`;
    expect(row?.n).toBe(0);
  });

  it('the invariant checker finds a tampered balance', async () => {
    const user = await newUser();
    await db.transaction((tx) =>
      ledger.award(tx, { user_id: user, amount: 5, source: 'x', source_event_id: `t:${user}` }),
    );
    await db.sql`update gamification_balances set besitos = besitos + 1 where user_id = ${user}`;
    const result = await checkLedgerInvariants(db);
    expect(result.ok).toBe(false);
    expect(result.problems.join('\n')).toContain(user);
    await db.sql`update gamification_balances set besitos = besitos - 1 where user_id = ${user}`;
  });
});
