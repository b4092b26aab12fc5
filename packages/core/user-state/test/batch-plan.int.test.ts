// A batch's statements keep probing the primary key when the plan PostgreSQL cached for them was
// made while `user_state` was empty and the table has grown since with no ANALYZE (a new install;
// a server without autovacuum). The plan cached then once joined the batch's keys to the whole
// table with a hash: every batch read every row.
import { createPostgres, migrate } from '@diana/db';
import { useTestDatabase } from '@diana/test-services';
import { newId } from '@diana/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresSliceStore } from '../src/adapters/postgres.js';
import { USER_STATE_MIGRATIONS } from '../src/migrations.js';
import type { StoredSlice } from '../src/types.js';

const testDb = await useTestDatabase('user-state-plan');
// one direct session: its prepared statements, its plans and its counters are the ones read below
const db = createPostgres({ url: testDb.direct_url, pool_max: 1 });
beforeAll(async () => {
  await migrate(db, [USER_STATE_MIGRATIONS]);
});
afterAll(async () => {
  await db.close();
});

const value = (n: number) => ({ data: { n }, schema_version: 1, write_id: newId() });
/** This session's scans of `user_state` so far (its pending counters flushed first). */
const scans = async () => {
  await db.sql`select pg_stat_force_next_flush()`;
  const [row] = await db.sql<{ seq: number; idx: number }[]>`
    select seq_scan::int as seq, idx_scan::int as idx from pg_stat_user_tables where relname = 'user_state'`;
  return row as { seq: number; idx: number };
};

describe('the batch statements of the postgres store', () => {
  it('probe the primary key per key with a plan cached while the table was empty, after it grew to 20 000 rows', async () => {
    const store = createPostgresSliceStore(db);
    const written = new Map<string, StoredSlice>();
    // eight batches of each statement while the table holds at most 80 rows: past five runs,
    // PostgreSQL may plan a prepared statement once, for any values, and keep that plan
    for (let round = 0; round < 8; round++) {
      const users = Array.from({ length: 10 }, () => newId());
      const stored = await Promise.all(users.map((user) => store.write(user, 's', undefined, value(1))));
      for (const [i, user] of users.entries()) written.set(user, stored[i] as StoredSlice);
      await Promise.all(users.map((user) => store.read(user, 's')));
    }
    const plans = await db.sql<{ statement: string; generic_plans: number }[]>`
      select statement, generic_plans::int from pg_prepared_statements
      where statement like '%unnest%' and statement not like '%pg_prepared_statements%'`;
    // the hazard is there: both batch statements run on plans made once, while the table was small
    expect(plans).toHaveLength(2);
    for (const plan of plans) expect(plan.generic_plans).toBeGreaterThan(0);

    await db.sql`
      insert into user_state (user_id, slice, version, schema_version, data, write_id)
      select 'filler-' || g, 's', 1, 1, '{"n": 0}', 'filler' from generate_series(1, 20000) g`;
    const before = await scans();
    const users = [...written.keys()].slice(0, 32);
    const updated = await Promise.all(users.map((user) => store.write(user, 's', written.get(user)?.token, value(2))));
    const read = await Promise.all(users.map((user) => store.read(user, 's')));
    const after = await scans();

    expect(updated.map((w) => (w as StoredSlice).version)).toEqual(users.map(() => 2));
    expect(read.map((r) => r?.data)).toEqual(users.map(() => ({ n: 2 })));
    // no statement of the two batches read the table whole; each looked its keys up
    expect(after.seq - before.seq).toBe(0);
    expect(after.idx - before.idx).toBeGreaterThanOrEqual(32);
  });
});
