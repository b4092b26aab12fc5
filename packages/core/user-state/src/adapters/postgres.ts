import { type Database, DB_ERROR_CODES } from '@diana/db';
import { createTurnBatcher, isDianaError } from '@diana/utils';
import { DEFAULT_POSTGRES_BATCH } from '../config.js';
import type { SliceConflict, SliceStore, SliceWrite, StoredSlice } from '../types.js';

interface Row {
  user_id?: string;
  /** false: not written — the row that stood when the write was refused */
  written?: boolean;
  slice: string;
  version: string;
  schema_version: number;
  data: unknown;
  write_id: string;
}

const toStored = (row: Row): StoredSlice => ({
  data: row.data,
  version: Number(row.version),
  schema_version: row.schema_version,
  write_id: row.write_id,
  token: row.version,
});
/** A write's reply: the row written, or the row that stood when it was refused (a conflict). */
const toAnswer = (row: Row | undefined): StoredSlice | SliceConflict | undefined =>
  row === undefined ? undefined : row.written === false ? { conflict: true, current: toStored(row) } : toStored(row);

// a token this store did not hand out matches no row: it is sent as version 0 (none has it)
const TOKEN = /^[1-9][0-9]{0,17}$/;
const keyOf = (...parts: string[]) => parts.join('\u0000');
const byKey = (a: Read, b: Read) =>
  a.user_id < b.user_id ? -1 : a.user_id > b.user_id ? 1 : a.slice < b.slice ? -1 : a.slice > b.slice ? 1 : 0;

interface Read {
  readonly user_id: string;
  readonly slice: string;
}
interface Write extends Read {
  readonly expected: string | undefined;
  readonly value: SliceWrite;
}
// BATCH_PLAN. A batch's keys come as arrays, and the statement is prepared: after five runs
// PostgreSQL may keep one generic plan for it, made with the statistics of that moment. Made
// while the table was small (a new install; or any time on a server without autovacuum, which
// never analyzes it), a plan that joins the keys to `user_state` hashes the whole table, and
// keeps doing so as the table grows: every batch then reads every row (measured: 5 ms for 32
// keys at 20 000 rows, against 0.3 ms). The keys go through `limit <their count>`: a limit the
// plan does not know counts as one row, so the generic plan probes the primary key per key,
// whatever the table's size; a plan made for the values at hand counts them exactly.
// The reply of a write batch the server refused as a whole (one item's data, say): each of
// its writes is then sent alone, so one bad value fails only its own caller.
const ALONE = Symbol('alone');

/** What `createPostgresSliceStore` takes besides the database. */
export interface PostgresSliceStoreOptions {
  /**
   * Most reads (one `select`) or compare-and-sets (one statement: one commit, one WAL flush)
   * made outside a transaction in one event-loop turn and sent together; never delayed by a
   * timer. 1 sends each alone. @default DEFAULT_POSTGRES_BATCH (32)
   */
  readonly batch_max?: number;
}

/**
 * Persistent slices in `user_state` (migration `USER_STATE_MIGRATIONS`). Inside the caller's
 * transaction (`db.session()`) each statement runs there, alone, and commits or rolls back with
 * it. Outside one, the reads and the compare-and-sets of one turn are coalesced: one statement
 * each, every write decided exactly as alone (an insert that does nothing if the row exists,
 * or an update guarded by the version read). A refused write answers with the row that stood
 * (`answers_conflicts`), in the same statement.
 */
export function createPostgresSliceStore(db: Database, options: PostgresSliceStoreOptions = {}): SliceStore {
  const batch_max = options.batch_max ?? DEFAULT_POSTGRES_BATCH;
  const coalesce = () => batch_max > 1 && db.session() === db.sql;

  const readOne = async ({ user_id, slice }: Read, sql = db.session()) => {
    const [row] = await sql<Row[]>`
      select slice, version::text as version, schema_version, data, write_id
      from user_state where user_id = ${user_id} and slice = ${slice}`;
    return row && toStored(row);
  };
  const readBatch = createTurnBatcher<Read, StoredSlice | undefined>(
    async (reads) => {
      // one alone: the plain statement (a turn of one is the common case at low rates)
      if (reads.length === 1) return [await readOne(reads[0] as Read, db.sql)];
      // `limit`: see BATCH_PLAN
      const rows = await db.sql<Row[]>`
        select s.user_id, s.slice, s.version::text as version, s.schema_version, s.data, s.write_id
        from (select * from unnest(${reads.map((r) => r.user_id)}::text[], ${reads.map((r) => r.slice)}::text[])
              limit ${reads.length}) as k(user_id, slice)
        join user_state s on s.user_id = k.user_id and s.slice = k.slice`;
      const found = new Map(rows.map((row) => [keyOf(row.user_id as string, row.slice), toStored(row)]));
      return reads.map((r) => found.get(keyOf(r.user_id, r.slice)));
    },
    { max_batch: batch_max, groupOf: () => '' },
  );

  // A refused write tells the row its statement saw, if newer than the one expected (the
  // statement's snapshot is taken before a concurrent writer it waited for committed: that
  // writer's row is not in it, and the refusal then tells nothing — the manager reads).
  const writeOne = async ({ user_id, slice, expected, value }: Write, sql = db.session()) => {
    const data = JSON.stringify(value.data);
    const [row] =
      expected === undefined
        ? await sql<Row[]>`
            with written as (
              insert into user_state (user_id, slice, version, schema_version, data, write_id)
              values (${user_id}, ${slice}, 1, ${value.schema_version}, ${data}::text::jsonb, ${value.write_id})
              on conflict (user_id, slice) do nothing
              returning slice, version::text as version, schema_version, data, write_id
            )
            select true as written, * from written
            union all
            select false, slice, version::text, schema_version, data, write_id
            from user_state where user_id = ${user_id} and slice = ${slice}`
        : await sql<Row[]>`
            with written as (
              update user_state
              set version = version + 1, schema_version = ${value.schema_version}, data = ${data}::text::jsonb,
                  write_id = ${value.write_id}, updated_at = now()
              where user_id = ${user_id} and slice = ${slice} and version = ${expected}::bigint
              returning slice, version::text as version, schema_version, data, write_id
            )
            select true as written, * from written
            union all
            select false, slice, version::text, schema_version, data, write_id
            from user_state where user_id = ${user_id} and slice = ${slice} and version <> ${expected}::bigint`;
    return toAnswer(row);
  };
  // One statement, so one commit: the inserts (expected null) and the guarded updates. Two
  // writes of one row in a batch (same token) update it once; each caller learns by its write
  // id. A refused one is told the row, as alone (the statement's snapshot does not hold what
  // the statement wrote: a written row's old version has the expected version, or none).
  const writeBatch = createTurnBatcher<Write, StoredSlice | SliceConflict | undefined | typeof ALONE>(
    async (batch) => {
      if (batch.length === 1) return [await writeOne(batch[0] as Write, db.sql)];
      // rows locked in one order by every batch, so two batches never wait on each other in a
      // circle (a deadlock fails a whole batch; were one to happen anyway, its writes go alone)
      const writes = [...batch].sort(byKey);
      let rows: Row[];
      try {
        // `limit`: see BATCH_PLAN
        rows = await db.sql<Row[]>`
          with v as (
            select * from unnest(
              ${writes.map((w) => w.user_id)}::text[], ${writes.map((w) => w.slice)}::text[],
              ${writes.map((w) => w.expected ?? null)}::text[], ${writes.map((w) => w.value.schema_version)}::int[],
              ${writes.map((w) => JSON.stringify(w.value.data))}::text[], ${writes.map((w) => w.value.write_id)}::text[]
            ) as v(user_id, slice, expected, schema_version, data, write_id)
            limit ${writes.length}
          ), inserted as (
            insert into user_state (user_id, slice, version, schema_version, data, write_id)
            select user_id, slice, 1, schema_version, data::jsonb, write_id from v where expected is null
            on conflict (user_id, slice) do nothing
            returning user_id, slice, version::text as version, schema_version, data, write_id
          ), updated as (
            update user_state t
            set version = t.version + 1, schema_version = v.schema_version, data = v.data::jsonb,
                write_id = v.write_id, updated_at = now()
            from v
            where v.expected is not null and t.user_id = v.user_id and t.slice = v.slice
              and t.version = v.expected::bigint
            returning t.user_id, t.slice, t.version::text as version, t.schema_version, t.data, t.write_id
          )
          select true as written, * from inserted
          union all select true, * from updated
          union all
          select false, t.user_id, t.slice, t.version::text, t.schema_version, t.data, t.write_id
          from v join user_state t on t.user_id = v.user_id and t.slice = v.slice
          where v.expected is null or t.version <> v.expected::bigint`;
      } catch (error) {
        // the server refused the statement (nothing of it was written): each write alone
        if (
          isDianaError(error, DB_ERROR_CODES.QUERY) ||
          isDianaError(error, DB_ERROR_CODES.CONSTRAINT) ||
          isDianaError(error, DB_ERROR_CODES.CONFLICT)
        )
          return batch.map(() => ALONE);
        throw error;
      }
      const written = new Map<string, Row>();
      const stood = new Map<string, Row>();
      for (const row of rows)
        if (row.written) written.set(keyOf(row.user_id as string, row.slice, row.write_id), row);
        else stood.set(keyOf(row.user_id as string, row.slice), row);
      return batch.map((w) => {
        const key = keyOf(w.user_id, w.slice, w.value.write_id);
        const row = written.get(key);
        written.delete(key); // a repeated write id wins once
        return toAnswer(row ?? stood.get(keyOf(w.user_id, w.slice)));
      });
    },
    { max_batch: batch_max, groupOf: () => '' },
  );

  const read = (user_id: string, slice: string) => (coalesce() ? readBatch : readOne)({ user_id, slice });
  return {
    name: 'postgres',
    answers_conflicts: true,
    // a row lives on once made (nothing deletes it) and its version grows by one per write
    follows: (current, expected) => current.version === (expected === undefined ? 0 : Number(expected)) + 1,
    read,
    async readMany(user_id, slices) {
      if (coalesce()) {
        const found = await Promise.all(slices.map((slice) => readBatch({ user_id, slice })));
        const result = new Map<string, StoredSlice>();
        slices.forEach((slice, i) => {
          const stored = found[i];
          if (stored) result.set(slice, stored);
        });
        return result;
      }
      const rows = await db.session()<Row[]>`
        select slice, version::text as version, schema_version, data, write_id
        from user_state where user_id = ${user_id} and slice = any(${slices as string[]})`;
      return new Map(rows.map((row) => [row.slice, toStored(row)]));
    },
    async write(user_id, slice, expected, value) {
      const item = { user_id, slice, expected: expected === undefined || TOKEN.test(expected) ? expected : '0', value };
      if (!coalesce()) return writeOne(item);
      const stored = await writeBatch(item);
      return stored === ALONE ? writeOne(item) : stored;
    },
  };
}
