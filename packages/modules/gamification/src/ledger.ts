// The besitos ledger: balances that never go below zero and an append-only transaction log in
// which a source event pays at most once. Every function runs in the caller's transaction.
import type { Database } from '@diana/db';
import type { EventBusService, EventRegistry } from '@diana/event-bus';
import type { TransactionSql } from '@diana/postgres';
import { cutText } from '@diana/security';
import { BESITOS_MAX, DianaError, newId } from '@diana/utils';
import type { GAMIFICATION_EVENTS } from './events.js';

/** Codes of the ledger's refusals. */
export const LEDGER_ERROR_CODES = Object.freeze({
  INSUFFICIENT: 'E_GAMIFICATION_INSUFFICIENT_BESITOS',
  INVALID: 'E_GAMIFICATION_LEDGER_INVALID',
} as const);

/** The result of an award. */
export interface AwardResult {
  /** Besitos actually paid (less than asked when the daily cap is reached, 0 when reached before). */
  readonly paid: number;
  readonly balance: number;
  /** The source event had already paid: nothing was done. */
  readonly duplicate: boolean;
}

export interface Ledger {
  /** Pays `amount` for `source_event_id` once; earnings respect the daily cap of the user's role. */
  award(
    tx: TransactionSql,
    a: {
      user_id: string;
      amount: number;
      source: string;
      source_event_id: string;
      kind?: 'earn' | 'gift' | 'adjust';
      /** Why (an admin's reason), shown in the user's history; at most 200 characters are kept. */
      note?: string;
      /**
       * When it was earned (the event's `occurred_at`): the row's day, and the day whose cap it
       * counts against, in the bot's timezone — an event handled after midnight still belongs to
       * the day it happened. @default the transaction's time
       */
      at?: Date;
    },
  ): Promise<AwardResult>;
  /** Takes `amount` for `source_event_id` once, or refuses with `E_GAMIFICATION_INSUFFICIENT_BESITOS` (nothing written). */
  spend(
    tx: TransactionSql,
    s: { user_id: string; amount: number; source: string; source_event_id: string; note?: string },
  ): Promise<{ balance: number; duplicate: boolean }>;
  balance(user_id: string): Promise<number>;
  /**
   * Locks the user's balance row for the rest of `tx` (creating it if needed): work that reads
   * the user's ledger before deciding (e.g. "3 paid reactions a day") runs one at a time per user.
   */
  lock(tx: TransactionSql, user_id: string): Promise<number>;
}

export interface LedgerDeps {
  readonly db: Database;
  readonly bus: EventBusService<EventRegistry & typeof GAMIFICATION_EVENTS>;
  /** IANA timezone of the bot's days (daily caps). */
  readonly timezone: string;
  /** Today's caps (from ConfigManager). */
  readonly caps: () => { free: number; vip: number };
}

/** A note as stored: trimmed, at most 200 characters (the column's limit), null when empty. */
const noteOf = (note: string | undefined) => (note === undefined ? null : cutText(note.trim(), 200) || null);

const VIP_OR_ABOVE = ['VIP', 'CONTENT_CREATOR', 'MODERATOR', 'ADMIN', 'OWNER'];

export function createLedger(deps: LedgerDeps): Ledger {
  const { db, bus } = deps;
  const check = (amount: number, source_event_id: string) => {
    if (
      !Number.isSafeInteger(amount) ||
      amount <= 0 ||
      amount > BESITOS_MAX ||
      !source_event_id ||
      source_event_id.length > 200
    )
      throw new DianaError(
        LEDGER_ERROR_CODES.INVALID,
        'an amount is a positive integer and a source event id is required',
        {
          context: { amount, source_event_id },
        },
      );
  };
  /**
   * Locks (creating if needed) the user's balance row and returns the balance, then runs `next`.
   * The three statements go out in one write: PostgreSQL runs them in order, so `next` starts, and
   * takes its snapshot, once the lock is held (a concurrent writer of this user has committed or
   * not started) — as if it had waited for the lock, one round trip less. The insert writes
   * nothing when the row is there.
   */
  const lockThen = async <T>(tx: TransactionSql, user_id: string, next?: PromiseLike<T>) => {
    const create = tx`insert into gamification_balances (user_id) values (${user_id}) on conflict do nothing`;
    const locked = tx<{ besitos: string }[]>`
      select besitos::text from gamification_balances where user_id = ${user_id} for update`;
    // a driver's statement is sent when it is first awaited: awaited together, in this order, the
    // three go out at once
    const [, [row], after] = await Promise.all([create, locked, next]);
    return { before: Number(row?.besitos ?? 0), after: after as T };
  };
  const lock = async (tx: TransactionSql, user_id: string) => (await lockThen(tx, user_id)).before;

  return {
    async award(tx, a) {
      check(a.amount, a.source_event_id);
      // Everything after the lock in one statement, so its snapshot is taken once the lock is
      // held (a concurrent award of this user has committed or not started): whether the source
      // event paid already, today's earnings against the cap of the user's role (earnings only),
      // the ledger row and the new balance. What it does not write, it reports.
      const kind = a.kind ?? 'earn';
      const caps = kind === 'earn' ? deps.caps() : { free: 0, vip: 0 };
      const at = a.at ?? null;
      const { before, after: rows } = await lockThen(
        tx,
        a.user_id,
        tx<{ duplicate: boolean; paid: number; balance: string | null }[]>`
        with seen as (
          select exists (select 1 from besitos_transactions where source_event_id = ${a.source_event_id}) as duplicate
        ), due as (
          select case when ${kind === 'earn'} then least(${a.amount}::int,
                   (case when (select role from users where id = ${a.user_id}) = any(${VIP_OR_ABOVE}::text[])
                         then ${caps.vip}::int else ${caps.free}::int end)
                   - coalesce((select sum(amount) from besitos_transactions
                               where user_id = ${a.user_id} and kind = 'earn' and amount > 0
                                 and day = (coalesce(${at}::timestamptz, now()) at time zone ${deps.timezone})::date), 0))
                 else ${a.amount}::int end as amount
        ), paid as (
          insert into besitos_transactions (id, user_id, amount, kind, source, source_event_id, day, note)
          select ${newId()}, ${a.user_id}, due.amount, ${kind}, ${a.source}, ${a.source_event_id},
                 (coalesce(${at}::timestamptz, now()) at time zone ${deps.timezone})::date, ${noteOf(a.note)}
          from seen, due where not seen.duplicate and due.amount > 0
          returning amount
        ), balance as (
          update gamification_balances b set besitos = b.besitos + paid.amount, lifetime = b.lifetime + paid.amount,
                 updated_at = now()
          from paid where b.user_id = ${a.user_id}
          returning b.besitos
        )
        select seen.duplicate, coalesce((select amount from paid), 0)::int as paid,
               (select besitos::text from balance) as balance
        from seen`,
      );
      const [row] = rows;
      if (row?.duplicate) return { paid: 0, balance: before, duplicate: true };
      const amount = row?.paid ?? 0;
      if (amount <= 0) return { paid: 0, balance: before, duplicate: false };
      const balance = Number(row?.balance);
      await bus.publish(
        'gamification.besitos_awarded',
        { user_id: a.user_id, amount, source: a.source, balance },
        { key: a.user_id, user_id: a.user_id },
      );
      return { paid: amount, balance, duplicate: false };
    },

    async spend(tx, s) {
      check(s.amount, s.source_event_id);
      // after the lock, one statement (see award): the duplicate check and, with enough besitos
      // (the balance as locked: read after the lock, in the statement's snapshot), the ledger
      // row and the new balance
      const { before, after: rows } = await lockThen(
        tx,
        s.user_id,
        tx<{ duplicate: boolean; balance: string | null }[]>`
        with seen as (
          select exists (select 1 from besitos_transactions where source_event_id = ${s.source_event_id}) as duplicate
        ), spent as (
          insert into besitos_transactions (id, user_id, amount, kind, source, source_event_id, day, note)
          select ${newId()}, ${s.user_id}, ${-s.amount}::int, 'spend', ${s.source}, ${s.source_event_id},
                 (now() at time zone ${deps.timezone})::date, ${noteOf(s.note)}
          from seen where not seen.duplicate
            and (select besitos from gamification_balances where user_id = ${s.user_id}) >= ${s.amount}::int
          returning amount
        ), balance as (
          update gamification_balances b set besitos = b.besitos + spent.amount, updated_at = now()
          from spent where b.user_id = ${s.user_id}
          returning b.besitos
        )
        select seen.duplicate, (select besitos::text from balance) as balance from seen`,
      );
      const [row] = rows;
      if (row?.duplicate) return { balance: before, duplicate: true };
      if (row?.balance == null)
        throw new DianaError(LEDGER_ERROR_CODES.INSUFFICIENT, `${s.amount} besitos needed, ${before} available`, {
          context: { needed: s.amount, balance: before },
        });
      const balance = Number(row.balance);
      await bus.publish(
        'gamification.besitos_spent',
        { user_id: s.user_id, amount: s.amount, source: s.source, balance },
        { key: s.user_id, user_id: s.user_id },
      );
      return { balance, duplicate: false };
    },

    lock,

    async balance(user_id) {
      const [row] = await db.sql<
        { besitos: string }[]
      >`select besitos::text from gamification_balances where user_id = ${user_id}`;
      return Number(row?.besitos ?? 0);
    },
  };
}

/**
 * The ledger's invariants, for tests and the system run: every balance equals the sum of its
 * transactions, none is negative, the lifetime total is the sum of earnings, and no source
 * event appears twice.
 */
export async function checkLedgerInvariants(db: Database): Promise<{ ok: boolean; problems: string[] }> {
  const problems: string[] = [];
  const mismatched = await db.sql<{ user_id: string; besitos: string; sum: string }[]>`
    select b.user_id, b.besitos::text, coalesce(sum(t.amount), 0)::text as sum
    from gamification_balances b left join besitos_transactions t on t.user_id = b.user_id
    group by b.user_id, b.besitos having b.besitos <> coalesce(sum(t.amount), 0)`;
  for (const m of mismatched) problems.push(`user ${m.user_id}: balance ${m.besitos} but transactions sum to ${m.sum}`);
  const negative = await db.sql<{ user_id: string }[]>`select user_id from gamification_balances where besitos < 0`;
  for (const n of negative) problems.push(`user ${n.user_id}: negative balance`);
  const lifetime = await db.sql<{ user_id: string }[]>`
    select b.user_id from gamification_balances b left join besitos_transactions t on t.user_id = b.user_id and t.amount > 0
    group by b.user_id, b.lifetime having b.lifetime <> coalesce(sum(t.amount), 0)`;
  for (const l of lifetime) problems.push(`user ${l.user_id}: lifetime total differs from its earnings`);
  const orphans = await db.sql<{ user_id: string }[]>`
    select distinct t.user_id from besitos_transactions t left join gamification_balances b on b.user_id = t.user_id where b.user_id is null`;
  for (const o of orphans) problems.push(`user ${o.user_id}: transactions without a balance`);
  const duplicates = await db.sql<{ source_event_id: string }[]>`
    select source_event_id from besitos_transactions group by source_event_id having count(*) > 1`;
  for (const d of duplicates) problems.push(`source event ${d.source_event_id} paid more than once`);
  return { ok: problems.length === 0, problems };
}
