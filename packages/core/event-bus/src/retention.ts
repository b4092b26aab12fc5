// The outbox and the inbox keep a row per event: published outbox rows and inbox records are
// removed once they are older than their retention, or both tables grow for ever (150 events/s
// is 13 million rows a day). Ids are UUIDv7 (the event's creation time first), so "older than"
// is a range of the primary key: no index is needed, and a delete reads only what it removes.
import { type Batch, type BatchOptions, type Database, inBatches } from '@diana/db';

/** What one prune removed. */
export interface PruneResult {
  readonly outbox: number;
  readonly inbox: number;
}

/**
 * How long rows are kept (0 keeps them for ever), and the deletes' size: `max_batches` per table
 * and group per prune (a first prune of a large table goes on at the next), `signal` the relay
 * closing.
 */
export interface RetentionSettings extends BatchOptions {
  readonly outbox_retention_ms: number;
  readonly inbox_retention_ms: number;
}

const PRUNE_LOCK = 'diana.event_tables.prune';
/** Below every UUID: where a table's first batch starts. */
const NO_ID = '00000000-0000-0000-0000-000000000000';

/**
 * The smallest UUID whose UUIDv7 time is `ms`: every id made before that millisecond sorts
 * below it (PostgreSQL compares uuids bytewise, the 48-bit time first).
 */
export function uuidv7Floor(ms: number): string {
  const hex = Math.max(0, Math.floor(ms)).toString(16).padStart(12, '0');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-0000-0000-000000000000`;
}

/**
 * Removes published outbox rows and inbox records older than their retention, in batches, each
 * batch going on after the last id the one before removed; one process at a time (an advisory
 * lock tried by each statement before it reads anything: a statement that does not get it scans
 * nothing and removes nothing). A row goes only when its id (UUIDv7) and its own time
 * (`published_at`, `processed_at`, the database's clock) are both older than the retention, so an
 * id of another UUID version, which sorts anywhere, is kept until its time says so. Unpublished
 * outbox rows are never removed.
 */
export async function pruneEventTables(db: Database, settings: RetentionSettings): Promise<PruneResult> {
  const now = Date.now();
  let outbox = 0;
  let inbox = 0;
  if (settings.outbox_retention_ms > 0) {
    const below = uuidv7Floor(now - settings.outbox_retention_ms);
    // the lock as a one-time filter (an InitPlan): lost, the index scan never runs (joined per
    // row, a process that lost it walked the whole range and removed nothing)
    outbox = await inBatches(
      settings,
      NO_ID,
      (after) => db.sql<Batch[]>`
        with doomed as (
          select id from event_outbox
          where (select pg_try_advisory_xact_lock(hashtext(${PRUNE_LOCK})))
            and id > ${after}::uuid and id < ${below}::uuid and published_at is not null
            and published_at < now() - ${settings.outbox_retention_ms}::int8 * interval '1 millisecond'
          order by id
          limit ${settings.batch}
          for update skip locked),
        gone as (
          delete from event_outbox o using doomed
          where o.id = doomed.id and o.id > ${after}::uuid and o.id < ${below}::uuid
          returning o.id)
        select (select count(*)::int from gone) as removed,
          (select g.id::text from gone g order by g.id desc limit 1) as last`,
    );
  }
  if (settings.inbox_retention_ms > 0 && !settings.signal?.aborted) {
    const below = uuidv7Floor(now - settings.inbox_retention_ms);
    // the groups, each an index lookup (a loose scan of the primary key), not a table scan
    const groups = await db.sql<{ name: string }[]>`
      with recursive g(name) as (
        select min(group_name) from event_inbox
        union all
        select (select min(group_name) from event_inbox where group_name > g.name) from g where g.name is not null)
      select name from g where name is not null`;
    for (const { name } of groups) {
      inbox += await inBatches(
        settings,
        NO_ID,
        (after) => db.sql<Batch[]>`
          with doomed as (
            select group_name, event_id from event_inbox
            where (select pg_try_advisory_xact_lock(hashtext(${PRUNE_LOCK})))
              and group_name = ${name} and event_id > ${after}::uuid and event_id < ${below}::uuid
              and processed_at < now() - ${settings.inbox_retention_ms}::int8 * interval '1 millisecond'
            order by event_id
            limit ${settings.batch}
            for update skip locked),
          gone as (
            delete from event_inbox i using doomed
            where i.group_name = ${name} and i.event_id = doomed.event_id
              and i.event_id > ${after}::uuid and i.event_id < ${below}::uuid
            returning i.event_id)
          select (select count(*)::int from gone) as removed,
            (select g.event_id::text from gone g order by g.event_id desc limit 1) as last`,
      );
    }
  }
  return { outbox, inbox };
}
