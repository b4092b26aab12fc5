// "Every event published so far is handled": what the console chat waits for when its input ends
// (a piped `/start` then shows the welcome gift its event sends), and the transcripts after each line.
import type { Database } from '@diana/db';
import type { EventBusService } from '@diana/event-bus';

/** How often `settle` looks (an outbox count and the bus's group figures). */
const LOOK_EVERY_MS = 25;

/**
 * Resolves `true` once nothing is left in the outbox and no consumer group is behind or holds an
 * unacknowledged delivery, seen twice in a row (a handler may publish the next event); `false`
 * when `timeout_ms` passes first, or while the bus cannot tell (its transport does not answer).
 * Rejects when the database does not answer (e.g. closed by a shutdown meanwhile). Events left
 * are not lost: they stay in the outbox and the streams for the next start.
 */
export async function settle(deps: { db: Database; bus: EventBusService }, timeout_ms: number): Promise<boolean> {
  const deadline = Date.now() + timeout_ms;
  for (let quiet = 0; ; ) {
    const [row] = await deps.db.sql<{ n: number }[]>`
      select count(*)::int as n from event_outbox where published_at is null`;
    const health = await deps.bus.health();
    const left = (row?.n ?? 0) + health.groups.reduce((sum, group) => sum + group.lag + group.pending, 0);
    quiet = health.error === undefined && left === 0 ? quiet + 1 : 0;
    if (quiet === 2) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, LOOK_EVERY_MS));
  }
}
