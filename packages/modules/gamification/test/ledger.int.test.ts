import { createPostgres, createUserRepository, DB_MIGRATIONS, migrate } from '@diana/db';
import { createEventBus, createMemoryTransport, EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { useTestDatabase } from '@diana/test-services';
import { isDianaError } from '@diana/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GAMIFICATION_EVENTS } from '../src/events.js';
import { checkLedgerInvariants, createLedger } from '../src/ledger.js';
import { GAMIFICATION_MIGRATIONS } from '../src/migrations.js';

const testDb = await useTestDatabase('ledger');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 20 });
const bus = createEventBus({}, { transport: createMemoryTransport(), events: GAMIFICATION_EVENTS, db });
const ledger = createLedger({ db, bus, timezone: 'Europe/Madrid', caps: () => ({ free: 200, vip: 500 }) });
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
