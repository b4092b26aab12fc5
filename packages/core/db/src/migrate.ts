import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ReservedSql, TransactionSql } from '@diana/postgres';
import { DianaError, getPackageLogger, type Logger, type PackageFiles, sleep } from '@diana/utils';
import { DB_ERROR_CODES } from './errors.js';
import type { Database } from './postgres.js';

/** One package's migrations: a folder of `NNNN_name.sql` files, applied in name order. */
export interface MigrationSource {
  /** Usually the package name, e.g. `@diana/db`. Sources are applied in the order given. */
  readonly name: string;
  /** Absolute path of the folder. */
  readonly directory: string;
  /** The folder's files (name → SQL) when the build embedded them; `directory` is then not read. */
  readonly files?: Readonly<Record<string, string>>;
}

/** The migrations a package ships (`migrations/`), embedded by its build or read from the folder. */
export function packageMigrations(name: string, files: PackageFiles): MigrationSource {
  const directory = files.path('migrations');
  return Object.freeze(
    files.embedded ? { name, directory, files: files.folder('migrations', '.sql') } : { name, directory },
  );
}

/** A migration file as read from its source. */
export interface Migration {
  readonly source: string;
  readonly name: string;
  readonly sql: string;
  /** sha256 of the file with line endings normalized. */
  readonly checksum: string;
}

/** What `migrate` did. */
export interface MigrationResult {
  /** `source/name` of each migration this call applied, in order. */
  readonly applied: readonly string[];
  /** How many were applied already (by an earlier run or a concurrent process). */
  readonly already_applied: number;
  /** True when another process held the migration lock and this one waited for it. */
  readonly waited_for_lock: boolean;
}

/** One line of `migrationStatus`. */
export interface MigrationStatusEntry {
  readonly source: string;
  readonly name: string;
  /** `changed`: applied, but the file no longer matches what was applied. */
  readonly status: 'applied' | 'pending' | 'changed';
  readonly applied_at?: Date;
}

const TABLE = 'diana_migrations';
// One lock for every migration run on a database; a transaction-level advisory lock, so a
// crashed runner never leaves it held.
const LOCK_KEY = 'diana.migrations';
// what an ask for the lock returns when another runner holds it
const BUSY = Symbol('busy');
/** First line of a file that must run outside a transaction. */
const NO_TRANSACTION = /^--\s*diana:no-transaction\b/;

/** Options of `migrate`. */
export interface MigrateOptions {
  readonly logger?: Logger;
  /** `statement_timeout` of each file (not the pool's); 0 disables it. @default 600_000 */
  readonly statement_timeout_ms?: number;
  /** How long to wait for another runner's lock or a table lock, then `E_DB_MIGRATION_LOCKED`. @default 60_000 */
  readonly lock_timeout_ms?: number;
}

/** Reads the `.sql` files of each source, in source order then file-name order. */
export function loadMigrations(sources: readonly MigrationSource[]): Migration[] {
  return sources.flatMap((source) => {
    const files =
      source.files ??
      Object.fromEntries(
        readdirSync(source.directory)
          .filter((file) => file.endsWith('.sql'))
          .map((file) => [file, readFileSync(join(source.directory, file), 'utf8')]),
      );
    return Object.keys(files)
      .sort()
      .map((file) => {
        const sql = files[file] as string;
        return { source: source.name, name: file, sql, checksum: checksumOf(sql) };
      });
  });
}

/**
 * Applies every pending migration, each in its own transaction under a PostgreSQL advisory
 * lock, recording source, name and checksum. Refuses to run at all (`E_DB_MIGRATION_CHECKSUM`)
 * when an applied file was edited; a failing file is rolled back (`E_DB_MIGRATION_FAILED`).
 * Behind a transaction pooler it runs on `direct_url`, and refuses (`E_DB_MIGRATION_POOLER`) without one.
 */
export async function migrate(
  pool: Database,
  sources: readonly MigrationSource[],
  deps: MigrateOptions = {},
): Promise<MigrationResult> {
  const logger = getPackageLogger(deps.logger, 'db');
  // The lock of a no-transaction file and its DDL need one session from start to end, which a
  // transaction pooler does not promise.
  const db = pool.direct();
  if (!db) {
    throw new DianaError(
      DB_ERROR_CODES.MIGRATION_POOLER,
      'migrations cannot run through a transaction pooler (PgBouncer pool_mode = transaction): their lock and ' +
        'DDL need a session. Set direct_url (DIANA_DATABASE_DIRECT_URL) to the database without the pooler; nothing was applied.',
    );
  }
  if (db !== pool) logger.info('migrations run on direct_url (the pool goes through a transaction pooler)');
  const statementTimeout = deps.statement_timeout_ms ?? 600_000;
  const lockTimeout = deps.lock_timeout_ms ?? 60_000;
  const migrations = loadMigrations(sources);
  let waited = false;
  // Each run sets its own timeouts (the pool's statement_timeout is for requests, not for a
  // migration that rewrites a table); lock_timeout bounds the wait for another runner's lock.
  const timeouts = (sql: TransactionSql | ReservedSql, scope: 'local' | 'session') =>
    sql.unsafe(
      `set ${scope} statement_timeout = ${Math.floor(statementTimeout)}; set ${scope} lock_timeout = ${Math.floor(lockTimeout)}`,
    );
  const lockTimedOut = (error: unknown): boolean =>
    typeof error === 'object' &&
    error !== null &&
    ((error as { code?: unknown }).code === '55P03' || lockTimedOut((error as { cause?: unknown }).cause));
  const orLocked = (error: unknown) =>
    lockTimedOut(error)
      ? new DianaError(
          DB_ERROR_CODES.MIGRATION_LOCKED,
          `a lock was held by someone else for more than ${lockTimeout} ms (another migration run?); this file was not applied`,
          { cause: error },
        )
      : error;
  // Another runner's lock is waited for by asking again (every 50–150 ms, up to lock_timeout),
  // never by a blocking `pg_advisory_lock`, and with no transaction open between two asks. A
  // CREATE INDEX CONCURRENTLY of the holder's no-transaction file waits, while it holds the
  // lock, for every transaction that had a snapshot: a runner blocked on the lock, or waiting
  // inside a transaction, would never end — a deadlock PostgreSQL broke by failing a runner
  // (seen with 2 and 4 runners starting together), or none it could see.
  const untilLocked = async <T>(attempt: () => Promise<T | typeof BUSY>): Promise<T> => {
    const deadline = performance.now() + lockTimeout;
    for (;;) {
      const result = await attempt();
      if (result !== BUSY) return result;
      waited = true;
      const left = deadline - performance.now();
      if (left <= 0)
        throw new DianaError(
          DB_ERROR_CODES.MIGRATION_LOCKED,
          `the migration lock was held by someone else for more than ${lockTimeout} ms (another migration run?); this file was not applied`,
        );
      await sleep(Math.min(left, 50 + Math.random() * 100));
    }
  };
  const locked = async <T>(fn: (tx: TransactionSql) => Promise<T>) =>
    untilLocked(() =>
      db.transaction(async (tx) => {
        await timeouts(tx, 'local');
        const [row] = await tx<{ got: boolean }[]>`select pg_try_advisory_xact_lock(hashtext(${LOCK_KEY})) as got`;
        // not got: this (empty) transaction ends, and the next ask opens another
        return row?.got ? fn(tx) : BUSY;
      }),
    ).catch((error: unknown) => {
      throw orLocked(error);
    });
  // A file whose first line is `-- diana:no-transaction` (one statement, e.g. CREATE INDEX
  // CONCURRENTLY) runs on a reserved connection under the session form of the same lock. The
  // connection goes back to the pool with the pool's own timeouts, whatever happened.
  const lockedSession = async <T>(fn: (sql: ReservedSql) => Promise<T>) => {
    const reserved = await db.sql.reserve();
    try {
      await timeouts(reserved, 'session');
      try {
        await untilLocked(async () => {
          const [row] = await reserved<{ got: boolean }[]>`select pg_try_advisory_lock(hashtext(${LOCK_KEY})) as got`;
          return row?.got ? true : BUSY;
        });
        try {
          return await fn(reserved);
        } finally {
          await reserved`select pg_advisory_unlock(hashtext(${LOCK_KEY}))`;
        }
      } finally {
        await reserved.unsafe('reset statement_timeout; reset lock_timeout');
      }
    } catch (error) {
      throw orLocked(error);
    } finally {
      reserved.release();
    }
  };
  const applied = await locked(async (tx) => {
    await tx.unsafe(`create table if not exists ${TABLE} (
      source text not null,
      name text not null,
      checksum text not null,
      applied_at timestamptz not null default now(),
      execution_ms integer not null,
      primary key (source, name))`);
    return readApplied(tx);
  });
  assertUnchanged(migrations, applied);

  const done: string[] = [];
  let already = 0;
  for (const migration of migrations) {
    if (applied.has(key(migration))) {
      already++;
      continue;
    }
    const apply = async (sql: TransactionSql | ReservedSql) => {
      // Another process may have applied it while we waited for the lock.
      const [existing] = await sql<{ checksum: string }[]>`
        select checksum from ${sql(TABLE)} where source = ${migration.source} and name = ${migration.name}`;
      if (existing) {
        assertUnchanged([migration], new Map([[key(migration), existing.checksum]]));
        return undefined;
      }
      const started = performance.now();
      try {
        await sql.unsafe(migration.sql);
      } catch (error) {
        if (lockTimedOut(error)) throw error;
        throw new DianaError(
          DB_ERROR_CODES.MIGRATION_FAILED,
          `migration ${key(migration)} failed: ${(error as Error).message}`,
          {
            cause: error,
            context: { source: migration.source, name: migration.name },
          },
        );
      }
      const ms = Math.round(performance.now() - started);
      await sql`insert into ${sql(TABLE)} (source, name, checksum, execution_ms)
               values (${migration.source}, ${migration.name}, ${migration.checksum}, ${ms})`;
      return ms;
    };
    const ms = NO_TRANSACTION.test(migration.sql) ? await lockedSession(apply) : await locked(apply);
    const ran = ms !== undefined;
    if (ran) {
      done.push(key(migration));
      logger.info({ migration: key(migration), ms }, 'migration applied');
    } else {
      already++;
    }
  }
  return { applied: done, already_applied: already, waited_for_lock: waited };
}

/** Every migration of `sources` with its state in the database. */
export async function migrationStatus(
  db: Database,
  sources: readonly MigrationSource[],
): Promise<MigrationStatusEntry[]> {
  const migrations = loadMigrations(sources);
  const [exists] = await db.sql<{ present: boolean }[]>`select to_regclass(${TABLE}) is not null as present`;
  const rows = exists?.present
    ? await db.sql<{ source: string; name: string; checksum: string; applied_at: Date }[]>`
        select source, name, checksum, applied_at from ${db.sql(TABLE)}`
    : [];
  const byKey = new Map(rows.map((row) => [`${row.source}/${row.name}`, row]));
  return migrations.map((migration) => {
    const row = byKey.get(key(migration));
    if (!row) return { source: migration.source, name: migration.name, status: 'pending' as const };
    return {
      source: migration.source,
      name: migration.name,
      status: row.checksum === migration.checksum ? ('applied' as const) : ('changed' as const),
      applied_at: row.applied_at,
    };
  });
}

async function readApplied(tx: TransactionSql): Promise<Map<string, string>> {
  const rows = await tx<{ source: string; name: string; checksum: string }[]>`
    select source, name, checksum from ${tx(TABLE)}`;
  return new Map(rows.map((row) => [`${row.source}/${row.name}`, row.checksum]));
}

function assertUnchanged(migrations: readonly Migration[], applied: ReadonlyMap<string, string>): void {
  const changed = migrations.filter((m) => applied.has(key(m)) && applied.get(key(m)) !== m.checksum);
  if (changed.length === 0) return;
  const names = changed.map(key);
  throw new DianaError(
    DB_ERROR_CODES.MIGRATION_CHECKSUM,
    `applied migrations were edited: ${names.join(', ')}. Revert the files and add a new migration instead.`,
    { context: { migrations: names } },
  );
}

function checksumOf(sql: string): string {
  return createHash('sha256').update(sql.replace(/\r\n/g, '\n')).digest('hex');
}

function key(migration: Pick<Migration, 'source' | 'name'>): string {
  return `${migration.source}/${migration.name}`;
}
