import type { Database } from '@diana/db';
import type { SliceStore, StoredSlice } from '../types.js';

interface Row {
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

/**
 * Persistent slices in `user_state` (migration `USER_STATE_MIGRATIONS`). Statements run on
 * `db.session()`, so a write inside the caller's transaction commits or rolls back with it.
 * The compare-and-set is one statement: an insert that does nothing if the row exists, or an
 * update guarded by the version read.
 */
export function createPostgresSliceStore(db: Database): SliceStore {
  return {
    name: 'postgres',
    async read(user_id, slice) {
      const [row] = await db.session()<Row[]>`
        select slice, version::text as version, schema_version, data, write_id
        from user_state where user_id = ${user_id} and slice = ${slice}`;
      return row && toStored(row);
    },
    async readMany(user_id, slices) {
      const rows = await db.session()<Row[]>`
        select slice, version::text as version, schema_version, data, write_id
        from user_state where user_id = ${user_id} and slice = any(${slices as string[]})`;
      return new Map(rows.map((row) => [row.slice, toStored(row)]));
    },
    async write(user_id, slice, expected, value) {
      // a token this store did not hand out matches no row
      if (expected !== undefined && !/^[1-9][0-9]{0,17}$/.test(expected)) return undefined;
      const sql = db.session();
      const data = JSON.stringify(value.data);
      const [row] =
        expected === undefined
          ? await sql<Row[]>`
              insert into user_state (user_id, slice, version, schema_version, data, write_id)
              values (${user_id}, ${slice}, 1, ${value.schema_version}, ${data}::text::jsonb, ${value.write_id})
              on conflict (user_id, slice) do nothing
              returning slice, version::text as version, schema_version, data, write_id`
          : await sql<Row[]>`
              update user_state
              set version = version + 1, schema_version = ${value.schema_version}, data = ${data}::text::jsonb,
                  write_id = ${value.write_id}, updated_at = now()
              where user_id = ${user_id} and slice = ${slice} and version = ${expected}::bigint
              returning slice, version::text as version, schema_version, data, write_id`;
      return row && toStored(row);
    },
  };
}
