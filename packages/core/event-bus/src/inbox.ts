import { type Database, DB_ERROR_CODES } from '@diana/db';
import type { TransactionSql } from '@diana/postgres';
import { isDianaError } from '@diana/utils';
import type { EventEnvelope } from './events.js';

/** Exactly-once effects for event handlers. */
export interface Inbox {
  /**
   * Runs `fn` in a transaction that also records (group, event id); when the event was
   * already recorded, `fn` does not run. Returns whether it ran. Inside `fn` everything joins
   * that transaction through `db.session()` — repositories, and `bus.publish` (outbox) on a
   * bus given `deps.db` — so `fn` needs no argument; its `tx` is the same session, kept for
   * callers written before (do not pass it on).
   */
  process<T>(
    group: string,
    event: Pick<EventEnvelope, 'id'>,
    fn: (tx: TransactionSql) => Promise<T>,
  ): Promise<{ processed: boolean; result?: T }>;
  /**
   * As `process`, with the (group, event id) row written with `COMMIT` instead of first: one
   * round trip less per event. Only for a `fn` whose every effect is in the transaction
   * (statements, outbox publishes, `beforeCommit` and `onCommit` work — nothing sent elsewhere
   * while it runs): on a duplicate `fn` does run, and its transaction rolls back when the row
   * meets the one recorded, so nothing it did stays; `processed` is then false. On a `Database`
   * that cannot defer a statement to `COMMIT` (no `beforeCommit`), it is `process`.
   */
  processAtCommit<T>(
    group: string,
    event: Pick<EventEnvelope, 'id'>,
    fn: (tx: TransactionSql) => Promise<T>,
  ): Promise<{ processed: boolean; result?: T }>;
}

/** The inbox on `event_inbox` (migration in `EVENT_BUS_MIGRATIONS`). */
export function createInbox(db: Database): Inbox {
  const process: Inbox['process'] = (group, event, fn) =>
    db.transaction(async (tx) => {
      const inserted = await tx`
        insert into event_inbox (group_name, event_id) values (${group}, ${event.id})
        on conflict do nothing returning event_id`;
      if (inserted.length === 0) return { processed: false };
      return { processed: true, result: await fn(tx) };
    });
  return {
    process,
    async processAtCommit(group, event, fn) {
      const { beforeCommit } = db;
      if (!beforeCommit) return process(group, event, fn);
      try {
        return await db.transaction(async (tx) => {
          const result = await fn(tx);
          // a plain insert, returned unawaited: written with COMMIT; a recorded event fails it,
          // and with it the whole transaction
          await beforeCommit(
            (session) => session`insert into event_inbox (group_name, event_id) values (${group}, ${event.id})`,
          );
          return { processed: true, result };
        });
      } catch (error) {
        if (isDianaError(error, DB_ERROR_CODES.CONSTRAINT) && error.context?.constraint === 'event_inbox_pkey')
          return { processed: false };
        throw error;
      }
    },
  };
}
