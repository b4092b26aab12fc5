import type { DbSession } from '@diana/db';
import type { EventEnvelope } from './events.js';

/** The channel the relay listens on; a row insert notifies it (delivered at commit). */
export const OUTBOX_CHANNEL = 'diana_outbox';

/** Stores `envelope` in the outbox inside the caller's transaction: it is published only if that commits. */
export async function writeToOutbox(tx: DbSession, envelope: EventEnvelope, raw: string): Promise<void> {
  await outboxStatement(tx, [{ envelope, raw }]);
}

/** One outbox row: the envelope's columns and its encoded text. */
export interface OutboxRow {
  readonly envelope: EventEnvelope;
  readonly raw: string;
}

/**
 * The one statement that stores `rows` (the events one transaction published, in id order),
 * not awaited: a transaction's before-commit step returns it so that it goes out with COMMIT.
 */
export function outboxStatement(tx: DbSession, rows: readonly OutboxRow[]): Promise<unknown> {
  // the notify rides on the insert (one round trip, not two); like any notify it is delivered at
  // commit, once per transaction (PostgreSQL folds identical ones), and never on rollback
  if (rows.length === 1) {
    const [{ envelope, raw }] = rows as [OutboxRow];
    return tx`
      insert into event_outbox (id, type, key, envelope)
      values (${envelope.id}, ${envelope.type}, ${envelope.key}, ${raw})
      returning pg_notify(${OUTBOX_CHANNEL}, '')`;
  }
  return tx`
    insert into event_outbox (id, type, key, envelope)
    select * from unnest(
      ${rows.map((row) => row.envelope.id)}::uuid[],
      ${rows.map((row) => row.envelope.type)}::text[],
      ${rows.map((row) => row.envelope.key)}::text[],
      ${rows.map((row) => row.raw)}::text[])
    returning pg_notify(${OUTBOX_CHANNEL}, '')`;
}
