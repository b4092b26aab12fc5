import type { Database } from '@diana/db';
import type { TransactionSql } from '@diana/postgres';
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
}

/** The inbox on `event_inbox` (migration in `EVENT_BUS_MIGRATIONS`). */
export function createInbox(db: Database): Inbox {
  return {
    process: (group, event, fn) =>
      db.transaction(async (tx) => {
        const inserted = await tx`
          insert into event_inbox (group_name, event_id) values (${group}, ${event.id})
          on conflict do nothing returning event_id`;
        if (inserted.length === 0) return { processed: false };
        return { processed: true, result: await fn(tx) };
      }),
  };
}
