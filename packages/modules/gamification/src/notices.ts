// Telling users what they were paid. A payment publishes its event through the outbox in the
// transaction that wrote the ledger entry (only when that entry was new), and queues its notice
// (a `pending` row of `gamification_notices`, keyed by the event id, its text rendered) in that
// same transaction: both exist exactly when the payment does. The notices consumer, on a
// payment event that has a notice, claims every pending notice of that user and sends them as
// ONE message, ending with the balance — a tap that pays a decision, a fragment and an
// achievement is one notice, not three queued behind Telegram's one-message-a-second per chat.
// A claimed row is `sending` before the message goes out, so a redelivered or replayed event
// never tells it twice. A send Telegram refuses for good (403: the user blocked the bot; 400:
// the chat is gone) is recorded and dropped; any other failure puts the rows back to `pending`
// and the bus retries. The payment never waits for any of this: it is a consumer group of its own.
import { type Batch, type BatchOptions, type Database, type DbSession, inBatches } from '@diana/db';
import type { EventBusService, EventEnvelope, EventRegistry, ModuleSubscription } from '@diana/event-bus';
import { escapeHtml, oneLine } from '@diana/security';
import { formatBesitos, getPackageLogger, type Logger } from '@diana/utils';
import { type Api, GrammyError } from 'grammy';
import { LRUCache } from 'lru-cache';
import { TEXTS } from './texts.js';

/** The consumer group that tells users their payments. */
export const NOTICE_GROUP = 'gamification-notices';

export interface NoticeDeps {
  readonly db: Database;
  readonly api: () => Api;
  /** Titles of missions and achievements as configured now (the id when unknown). */
  readonly missionTitle: (id: string) => string;
  readonly achievementTitle: (id: string) => string;
  readonly logger?: Logger;
}

interface Paid {
  readonly user_id: string;
  readonly amount?: number;
  readonly source?: string;
  readonly mission?: string;
  readonly achievement?: string;
  readonly reward?: number;
  readonly paid?: number;
  readonly applied?: number;
  readonly reason?: string;
}

/** One prune of told notices (see `prune`). */
export interface PruneOptions extends BatchOptions {
  readonly retention_ms: number;
}

/** The payment events that are told to their user. */
const PAYMENT_TYPES: readonly string[] = [
  'gamification.besitos_awarded',
  'gamification.mission_completed',
  'gamification.achievement_unlocked',
  'gamification.adjustment_applied',
];

/** Notices: queued with each payment, told by one consumer group. */
export function createNotices(deps: NoticeDeps) {
  const logger = getPackageLogger(deps.logger, 'gamification');
  const { db } = deps;
  /**
   * Queues the notice of a payment event in the running transaction (nothing when it is told
   * elsewhere); a second call is a no-op. The row is written right before COMMIT, with it and the
   * event's outbox row (one round trip for all three), where the database can defer.
   */
  const queue = async (event: Pick<EventEnvelope, 'id' | 'type' | 'payload'>) => {
    const payload = event.payload as Paid;
    const text = render(event.type, payload, deps);
    if (!text || typeof payload.user_id !== 'string') return;
    const user_id = payload.user_id;
    const insert = (session: DbSession) => session`
      insert into gamification_notices (event_id, user_id, state, text)
      values (${event.id}, ${user_id}, 'pending', ${text}) on conflict do nothing`;
    if (db.beforeCommit) await db.beforeCommit(insert);
    else await insert(db.session());
  };
  const mark = (ids: readonly string[], state: 'pending' | 'sent' | 'undeliverable') =>
    db.sql`update gamification_notices set state = ${state}, updated_at = now() where event_id = any(${[...ids]}::text[])`;
  // The notices this process claimed (by event id) and did not put back: a tap that pays a
  // decision and a fragment is told in one message by the first event's delivery, and the second
  // event's delivery would only find nothing pending (a round trip to learn it). Another process,
  // or this one after a restart, still asks the database: only a skip is saved, never a notice.
  const claimed = new LRUCache<string, true>({ max: 10_000 });

  const subscription: ModuleSubscription = {
    group: NOTICE_GROUP,
    types: PAYMENT_TYPES,
    handler: async (event: EventEnvelope) => {
      const payload = event.payload as Paid;
      const user_id = payload.user_id;
      // a payment with no notice of its own (a mission's or an achievement's besitos, told by
      // their own events) claims nothing: every pending notice has its own event, whose delivery
      // claims it
      if (typeof user_id !== 'string' || claimed.has(event.id) || !render(event.type, payload, deps)) return;
      // every pending notice of the user, oldest first. Rows another delivery is claiming are waited
      // for (one statement: the lock is brief), not skipped: skipping split one user's notices over
      // two concurrent claims, two messages; after the wait they are no longer pending
      // ...and the user's chat and status in the same statement (the row they are told in)
      const rows = await db.sql<
        {
          event_id: string;
          text: string;
          telegram_id: string | null;
          status: string | null;
          balance: string | null;
        }[]
      >`
        with c as (
          select event_id from gamification_notices
          where user_id = ${user_id} and state = 'pending'
          order by created_at, event_id
          for update), claimed as (
          update gamification_notices n set state = 'sending', updated_at = now()
          from c where n.event_id = c.event_id
          returning n.event_id, n.text, n.created_at)
        select claimed.event_id, claimed.text, u.telegram_id::text as telegram_id, u.status,
          (select besitos::text from gamification_balances where user_id = ${user_id}) as balance
        from claimed left join users u on u.id = ${user_id}
        order by claimed.created_at, claimed.event_id`;
      if (rows.length === 0) return; // told already (alone, or with an earlier notice of the same user)
      const ids = rows.map((row) => row.event_id);
      for (const id of ids) claimed.set(id, true);
      // ...ending with the balance, read with the claim: it holds every payment told so far (this
      // message's included: each notice was written with its payment), whatever their order
      const balance = rows[0]?.balance;
      const lines = rows.map((row) => row.text);
      if (balance !== null && balance !== undefined) lines.push(TEXTS.notice.balance(formatBesitos(Number(balance))));
      const text = lines.join('\n');
      const user = { id: user_id, telegram_id: Number(rows[0]?.telegram_id), status: rows[0]?.status };
      if (user.status !== 'active') {
        await mark(ids, 'undeliverable');
        return;
      }
      try {
        await deps.api().sendMessage(user.telegram_id, text, { parse_mode: 'HTML' });
      } catch (error) {
        if (error instanceof GrammyError && (error.error_code === 403 || error.error_code === 400)) {
          logger.info({ user_id: user.id, event_ids: ids, code: error.error_code }, 'payment notice undeliverable');
          await mark(ids, 'undeliverable');
          return;
        }
        for (const id of ids) claimed.delete(id);
        await mark(ids, 'pending'); // a retry (the bus redelivers) tells them
        throw error;
      }
      await mark(ids, 'sent');
    },
  };

  return {
    subscription,
    /**
     * Removes told notices (`sent`, `undeliverable`) whose last update is older than
     * `retention_ms`, and notices left `sending` (a process died mid-send: never told again)
     * older than that and than a day (younger, one may still be on its way), oldest first,
     * `batch` rows per statement and at most `max_batches` statements; stops early when a
     * statement removes less than a batch or `signal` aborts. Rows another process is removing
     * are skipped, not waited for. Returns the rows removed. A removed notice is never told
     * again: its event, redelivered or replayed, claims only `pending` rows, and a payment
     * queues a notice once, with a new event id.
     */
    prune(options: PruneOptions): Promise<number> {
      // each batch goes on from the last time the one before removed (its text: microseconds);
      // rows are found by the index, locked, and removed by their place (ctid: they cannot move
      // while this statement holds them)
      return inBatches(
        options,
        '-infinity',
        (after) => db.sql<Batch[]>`
          with doomed as (
            select ctid from gamification_notices
            where state in ('sending', 'sent', 'undeliverable') and updated_at >= ${after}::text::timestamptz
              and updated_at < now() - ${options.retention_ms}::int8 * interval '1 millisecond'
              and (state <> 'sending' or updated_at < now() - interval '1 day')
            order by updated_at
            limit ${options.batch}
            for update skip locked),
          gone as (
            delete from gamification_notices n where n.ctid = any(array(select ctid from doomed))
            returning n.updated_at)
          select count(*)::int as removed, max(updated_at)::text as last from gone`,
      );
    },
    /**
     * `bus` whose publishes of payment events also queue their notice, in the transaction that
     * publishes them: the ledger, the progress counters and admin adjustments publish through it.
     */
    queueing<R extends EventRegistry>(bus: EventBusService<R>): EventBusService<R> {
      const publish: EventBusService<R>['publish'] = async (type, payload, options) => {
        const envelope = await bus.publish(type, payload, options);
        if (PAYMENT_TYPES.includes(type)) await queue(envelope);
        return envelope;
      };
      return { ...bus, publish };
    },
  };
}

/** The message for a payment event, or undefined when this payment is told elsewhere (or not at all). */
function render(type: string, p: Paid, deps: NoticeDeps): string | undefined {
  const n = TEXTS.notice;
  const besitos = (amount: number | undefined) => formatBesitos(amount ?? 0);
  switch (type) {
    case 'gamification.besitos_awarded':
      // the daily gift and reactions are answered where they happen; missions, achievements and
      // admin adjustments have their own events, with their titles and reasons
      if (p.source === 'welcome') return n.welcome(besitos(p.amount));
      if (p.source === 'decision') return n.decision(besitos(p.amount));
      if (p.source === 'fragment') return n.fragment(besitos(p.amount));
      return undefined;
    case 'gamification.mission_completed':
    case 'gamification.achievement_unlocked': {
      const mission = type === 'gamification.mission_completed';
      const title = escapeHtml(
        mission ? deps.missionTitle(p.mission ?? '') : deps.achievementTitle(p.achievement ?? ''),
      );
      const paid = p.paid ?? p.reward ?? 0;
      if (paid > 0) return mission ? n.mission(title, besitos(paid)) : n.achievement(title, besitos(paid));
      const bare = mission ? n.missionNoReward(title) : n.achievementNoReward(title);
      return (p.reward ?? 0) > 0 ? bare + n.capped : bare;
    }
    case 'gamification.adjustment_applied': {
      const applied = p.applied ?? 0;
      // one line without control characters, also for events published before the grant normalized it
      const reason = escapeHtml(oneLine(p.reason ?? ''));
      if (applied > 0) return n.granted(besitos(applied), reason);
      if (applied < 0) return n.taken(besitos(-applied), reason);
      return undefined;
    }
    default:
      return undefined;
  }
}
