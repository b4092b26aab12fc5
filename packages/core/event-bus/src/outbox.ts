import type { DbSession } from '@diana/db';
import type { EventEnvelope } from './events.js';

/** The channel the relay listens on; a row insert notifies it (delivered at commit). */
export const OUTBOX_CHANNEL = 'diana_outbox';

/** Stores `envelope` in the outbox inside the caller's transaction: it is published only if that commits. */
export async function writeToOutbox(tx: DbSession, envelope: EventEnvelope, raw: string): Promise<void> {
  await tx`
    insert into event_outbox (id, type, key, envelope)
    values (${envelope.id}, ${envelope.type}, ${envelope.key}, ${raw})`;
  await tx`select pg_notify(${OUTBOX_CHANNEL}, '')`;
}
