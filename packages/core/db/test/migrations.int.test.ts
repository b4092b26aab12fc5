import { cpSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, startWorker, type TestDatabase, useTempDir } from '@diana/test-services';
import { isDianaError } from '@diana/utils';
import { afterAll, describe, expect, it } from 'vitest';
import type { DatabaseConfigInput } from '../src/config.js';
import { migrate, migrationStatus } from '../src/migrate.js';
import { DB_MIGRATIONS } from '../src/migrations.js';
import { createPostgres, type Database } from '../src/postgres.js';

const fixtures = fileURLToPath(new URL('./fixtures/migrations-a', import.meta.url));
const workerScript = fileURLToPath(new URL('./fixtures/worker/migrate.ts', import.meta.url));

// Each test gets its own database; everything is dropped after the file.
const cleanups: Array<() => Promise<void>> = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});
async function useDatabase(label: string) {
  const db = await createTestDatabase(label);
  cleanups.push(() => db.drop());
  return db;
}
function closeAfter(db: Database) {
  cleanups.push(() => db.close());
}
// Through PgBouncer (DIANA_TEST_POOLER=pgbouncer) the runner needs the direct URL beside the pooled one.
function connect(testDb: TestDatabase, overrides: Partial<DatabaseConfigInput> = {}): Database {
  const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, ...overrides });
  closeAfter(db);
  return db;
}

describe('migrate', () => {
  it('applies pending files in order once, and records them', async () => {
    const db = connect(await useDatabase('migrate-once'));
    const sources = [DB_MIGRATIONS, { name: 'fixture', directory: fixtures }];

    const first = await migrate(db, sources);
    expect(first.applied).toEqual([
      '@diana/db/0001_users.sql',
      '@diana/db/0002_documents.sql',
      'fixture/0001_slow_table.sql',
      'fixture/0002_seed.sql',
    ]);
    const second = await migrate(db, sources);
    expect(second).toEqual({ applied: [], already_applied: 4, waited_for_lock: false });
    const status = await migrationStatus(db, sources);
    expect(status.map((s) => s.status)).toEqual(['applied', 'applied', 'applied', 'applied']);
    const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from fixture_items`;
    expect(count?.n).toBe(2);
  });

  it('two processes started together apply every migration exactly once; one waits for the lock', async () => {
    const testDb = await useDatabase('migrate-race');
    const workers = [startWorker(workerScript), startWorker(workerScript)];
    for (const worker of workers) {
      worker.send({ type: 'config', url: testDb.url, direct_url: testDb.direct_url, fixtures });
    }
    await Promise.all(workers.map((w) => w.waitFor('ready')));
    // both are connected and waiting: release them together
    for (const worker of workers) worker.send({ type: 'go' });
    const results = await Promise.all(workers.map((w) => w.waitFor('result')));
    await Promise.all(workers.map((w) => w.exited()));

    for (const result of results) expect(result.error).toBeUndefined();
    const appliedByEach = results.map((r) => (r.applied as string[]).length);
    expect(appliedByEach.reduce((a, b) => a + b, 0)).toBe(4);
    expect(results.some((r) => r.waited_for_lock === true)).toBe(true);

    const db = createPostgres({ url: testDb.url });
    const rows = await db.sql<{ n: number }[]>`select count(*)::int as n from diana_migrations`;
    const items = await db.sql<{ n: number }[]>`select count(*)::int as n from fixture_items`;
    await db.close();
    expect(rows[0]?.n).toBe(4);
    expect(items[0]?.n).toBe(2);
  });

  it('refuses to run when an applied file was edited, touching nothing', async () => {
    const db = connect(await useDatabase('migrate-edit'));
    {
      const dir = useTempDir('diana-mig-');
      cpSync(fixtures, dir, { recursive: true });
      await migrate(db, [{ name: 'fixture', directory: dir }]);
      writeFileSync(join(dir, '0002_seed.sql'), "insert into fixture_items values (3, 'three');\n");
      writeFileSync(join(dir, '0003_more.sql'), 'create table fixture_more (id int);\n');

      const error = await migrate(db, [{ name: 'fixture', directory: dir }]).catch((e: unknown) => e);
      expect(isDianaError(error, 'E_DB_MIGRATION_CHECKSUM')).toBe(true);
      expect((error as Error).message).toContain('fixture/0002_seed.sql');
      const [more] = await db.sql<{ present: boolean }[]>`select to_regclass('fixture_more') is not null as present`;
      const [items] = await db.sql<{ n: number }[]>`select count(*)::int as n from fixture_items`;
      expect(more?.present).toBe(false);
      expect(items?.n).toBe(2);
      const status = await migrationStatus(db, [{ name: 'fixture', directory: dir }]);
      expect(status.map((s) => s.status)).toEqual(['applied', 'changed', 'pending']);
    }
  });

  it('rolls a failing migration back and says which one', async () => {
    const db = connect(await useDatabase('migrate-fail'));
    const dir = useTempDir('diana-mig-');
    writeFileSync(join(dir, '0001_ok.sql'), 'create table ok_table (id int);\n');
    writeFileSync(
      join(dir, '0002_broken.sql'),
      'create table half_done (id int);\nselect no_such_column from ok_table;\n',
    );
    const error = await migrate(db, [{ name: 'broken', directory: dir }]).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_DB_MIGRATION_FAILED')).toBe(true);
    expect((error as Error).message).toContain('broken/0002_broken.sql');
    const [half] = await db.sql<{ present: boolean }[]>`select to_regclass('half_done') is not null as present`;
    expect(half?.present).toBe(false);
    const status = await migrationStatus(db, [{ name: 'broken', directory: dir }]);
    expect(status.map((s) => s.status)).toEqual(['applied', 'pending']);
  });
});

describe('migration timeouts and kinds', () => {
  const source = (files: Record<string, string>) => {
    const directory = useTempDir('diana-migrations-');
    for (const [name, sql] of Object.entries(files)) writeFileSync(join(directory, name), sql);
    return { name: 'timeouts', directory };
  };

  it("runs under its own statement_timeout, not the pool's: 3 s of work with a 2 s pool timeout applies", async () => {
    const db = connect(await useDatabase('migrate-own-timeout'), { statement_timeout_ms: 2_000 });
    // the pool's timeout is real on the session migrations use: a request of 3 s fails
    await expect((db.direct() ?? db).sql`select pg_sleep(3)`).rejects.toThrow(/statement timeout/);
    const result = await migrate(db, [
      source({ '0001_slow.sql': 'select pg_sleep(3); create table slow_done (id int);' }),
    ]);
    expect(result.applied).toEqual(['timeouts/0001_slow.sql']);
  }, 30_000);

  it('a file over statement_timeout_ms fails with E_DB_MIGRATION_FAILED and is not recorded', async () => {
    const db = connect(await useDatabase('migrate-statement-timeout'));
    const sources = [source({ '0001_slow.sql': 'create table half (id int); select pg_sleep(2);' })];
    const error = await migrate(db, sources, { statement_timeout_ms: 300 }).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_DB_MIGRATION_FAILED')).toBe(true);
    expect((await migrationStatus(db, sources)).map((s) => s.status)).toEqual(['pending']);
    const [table] = await db.sql<{ n: number }[]>`select count(*)::int as n from pg_tables where tablename = 'half'`;
    expect(table?.n).toBe(0); // rolled back
  }, 30_000);

  it('waits for another runner only lock_timeout_ms, then E_DB_MIGRATION_LOCKED with nothing applied', async () => {
    const db = connect(await useDatabase('migrate-lock-timeout'));
    const sources = [source({ '0001_t.sql': 'create table locked_out (id int);' })];
    // a session lock needs a session: not one through a transaction pooler
    const holder = await (db.direct() ?? db).sql.reserve();
    await holder`select pg_advisory_lock(hashtext('diana.migrations'))`; // another runner, holding it
    try {
      const error = await migrate(db, sources, { lock_timeout_ms: 300 }).catch((e: unknown) => e);
      expect(isDianaError(error, 'E_DB_MIGRATION_LOCKED')).toBe(true);
      expect((await migrationStatus(db, sources)).map((s) => s.status)).toEqual(['pending']);
    } finally {
      await holder`select pg_advisory_unlock(hashtext('diana.migrations'))`;
      holder.release();
    }
    expect((await migrate(db, sources, { lock_timeout_ms: 300 })).applied).toEqual(['timeouts/0001_t.sql']);
  }, 30_000);

  it('four runners started together, one file CREATE INDEX CONCURRENTLY: none deadlocks, each file applied once', async () => {
    const testDb = await useDatabase('migrate-concurrently');
    const sources = [
      source({
        '0001_table.sql': 'create table crowd (id int); insert into crowd values (1);',
        '0002_slow.sql': 'select pg_sleep(0.3); insert into crowd values (2);',
        '0003_index.sql': '-- diana:no-transaction\ncreate index concurrently crowd_id on crowd (id);',
        '0004_more.sql': 'insert into crowd values (4);',
      }),
    ];
    // four pools: four sessions, as four processes would have
    const runners = Array.from({ length: 4 }, () => connect(testDb, { pool_max: 2 }));
    await Promise.all(runners.map((db) => db.ping()));
    const results = await Promise.all(runners.map((db) => migrate(db, sources).catch((e: unknown) => e)));
    for (const result of results) expect(result).not.toBeInstanceOf(Error); // before: E_DB_CONFLICT deadlock detected
    const ran = results as Array<{ applied: string[]; waited_for_lock: boolean }>;
    expect(ran.flatMap((r) => r.applied).sort()).toEqual([
      'timeouts/0001_table.sql',
      'timeouts/0002_slow.sql',
      'timeouts/0003_index.sql',
      'timeouts/0004_more.sql',
    ]);
    expect(ran.some((r) => r.waited_for_lock)).toBe(true); // they did contend
    const [first] = runners as [Database];
    const rows = await first.sql<{ id: number }[]>`select id from crowd order by id`;
    expect(rows.map((r) => r.id)).toEqual([1, 2, 4]);
  }, 60_000);

  it('a runner that gives up waiting for a no-transaction file leaves its connection with the pool’s timeouts', async () => {
    const testDb = await useDatabase('migrate-lock-reset');
    const db = connect(testDb, { pool_max: 1, statement_timeout_ms: 2_000 });
    const other = connect(testDb, { pool_max: 1 });
    const sources = [
      source({
        '0001_slow.sql': 'select pg_sleep(1); create table later (id int);',
        '0002_index.sql': '-- diana:no-transaction\ncreate index concurrently later_id on later (id);',
      }),
    ];
    const run = migrate(db, sources, { lock_timeout_ms: 300 }).catch((e: unknown) => e);
    // while file 1 runs, another runner queues for the lock; it gets it when file 1 commits and
    // holds it past this runner's lock_timeout
    const deadline = Date.now() + 10_000;
    const sleeping = () =>
      other.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity where query like 'select pg_sleep(1); create table later%'`;
    while ((await sleeping())[0]?.n !== 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const holder = other.transaction(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext('diana.migrations'))`;
      await tx`select pg_sleep(1.5)`;
    });
    const error = await run;
    await holder;
    expect(isDianaError(error, 'E_DB_MIGRATION_LOCKED')).toBe(true);
    expect((await migrationStatus(db, sources)).map((s) => s.status)).toEqual(['applied', 'pending']);
    // every connection the runner used (through PgBouncer, its direct pool's two): two queries at once
    const runner = (db.direct() ?? db).sql;
    const rows = await Promise.all(
      [0, 1].map(
        () => runner<{ statement_timeout: string; lock_timeout: string }[]>`
          select current_setting('statement_timeout') as statement_timeout,
                 current_setting('lock_timeout') as lock_timeout, pg_sleep(0.1)::text as slept`,
      ),
    );
    for (const [row] of rows) expect(row).toMatchObject({ statement_timeout: '2s', lock_timeout: '0' }); // before: 10min, 300ms
  }, 30_000);

  it('a file marked `-- diana:no-transaction` runs outside a transaction (CREATE INDEX CONCURRENTLY)', async () => {
    const db = connect(await useDatabase('migrate-no-transaction'));
    const sources = [
      source({
        '0001_table.sql': 'create table items (id int);',
        '0002_index.sql': '-- diana:no-transaction\ncreate index concurrently items_id on items (id);',
      }),
    ];
    const result = await migrate(db, sources);
    expect(result.applied).toEqual(['timeouts/0001_table.sql', 'timeouts/0002_index.sql']);
    const [index] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from pg_indexes where indexname = 'items_id'`;
    expect(index?.n).toBe(1);
    expect((await migrate(db, sources)).already_applied).toBe(2);
  }, 30_000);
});

describe('migrations behind a transaction pooler', () => {
  const files = {
    '0001_table.sql': 'create table pooled (id int);',
    '0002_index.sql': '-- diana:no-transaction\ncreate index concurrently pooled_id on pooled (id);',
  };
  const source = () => {
    const directory = useTempDir('diana-migrations-');
    for (const [name, sql] of Object.entries(files)) writeFileSync(join(directory, name), sql);
    return [{ name: 'pooled', directory }];
  };

  it('refuse to run without direct_url (E_DB_MIGRATION_POOLER), applying nothing', async () => {
    const testDb = await useDatabase('migrate-pooler-refused');
    const db = createPostgres({ url: testDb.url, pooler: 'transaction' });
    closeAfter(db);
    const sources = source();
    const error = await migrate(db, sources).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_DB_MIGRATION_POOLER')).toBe(true);
    expect((error as Error).message).toMatch(/DIANA_DATABASE_DIRECT_URL/);
    expect((await migrationStatus(db, sources)).map((s) => s.status)).toEqual(['pending', 'pending']);
    const [table] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from pg_tables where tablename = 'diana_migrations'`;
    expect(table?.n).toBe(0);
  });

  it('run on direct_url, no-transaction files included', async () => {
    const testDb = await useDatabase('migrate-pooler-direct');
    const db = createPostgres({
      url: testDb.url,
      pooler: 'transaction',
      direct_url: testDb.direct_url,
      application_name: 'pooled-app',
    });
    closeAfter(db);
    const sources = source();
    expect((await migrate(db, sources)).applied).toEqual(['pooled/0001_table.sql', 'pooled/0002_index.sql']);
    expect((await migrationStatus(db, sources)).map((s) => s.status)).toEqual(['applied', 'applied']);
    // the work went over the direct pool, whose sessions say so
    const [direct] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from pg_stat_activity where application_name = 'pooled-app-direct'`;
    expect(direct?.n).toBeGreaterThanOrEqual(1);
  });
});
