import { randomBytes } from 'node:crypto';
import postgres from '@diana/postgres';
import { cleanUpAfter } from './cleanup.js';
import { getPostgresUrl } from './discover.js';
import { usePooler } from './pooler.js';

/** A database made for one test file. */
export interface TestDatabase {
  /**
   * Connection URL of the new database: through PgBouncer (with `?pgbouncer=true`) when
   * `DIANA_TEST_POOLER=pgbouncer`, else direct.
   */
  readonly url: string;
  /** The same database on a direct connection (migrations, LISTEN, admin work); `url` when not pooled. */
  readonly direct_url: string;
  /** `pgbouncer` when `url` goes through a transaction pooler. */
  readonly pooler: 'pgbouncer' | undefined;
  readonly name: string;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

const PREFIX = 'diana_t_';
// Databases older than this were left by a crashed run and are swept on the next start.
const STALE_AFTER_MS = 2 * 60 * 60 * 1000;
let swept: Promise<void> | undefined;

/** Creates an empty database on the test server; the caller drops it. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const adminUrl = await getPostgresUrl();
  const name = `${PREFIX}${Date.now().toString(36)}_${slug(label)}_${randomBytes(3).toString('hex')}`.slice(0, 63);
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  try {
    swept ??= sweepStale(admin).catch(() => {});
    await swept;
    await admin.unsafe(`create database "${name}"`);
  } finally {
    await admin.end({ timeout: 5 });
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const pooler = await usePooler();
  return {
    url: pooler ? pooler.urlFor(name) : url.toString(),
    direct_url: url.toString(),
    pooler: pooler ? 'pgbouncer' : undefined,
    name,
    drop: async () => {
      await pooler?.release();
      const sql = postgres(adminUrl, { max: 1, onnotice: () => {} });
      try {
        await sql.unsafe(`drop database if exists "${name}" with (force)`);
      } finally {
        await sql.end({ timeout: 5 });
      }
    },
  };
}

/** Creates a database and drops it after the test that asked (outside a test: after the file's tests). */
export async function useTestDatabase(label: string): Promise<TestDatabase> {
  const db = await createTestDatabase(label);
  cleanUpAfter(() => db.drop());
  return db;
}

async function sweepStale(admin: postgres.Sql): Promise<void> {
  const rows = await admin<{ datname: string }[]>`
    select datname from pg_database where datname like ${`${PREFIX}%`}`;
  const cutoff = Date.now() - STALE_AFTER_MS;
  for (const { datname } of rows) {
    const created = Number.parseInt(datname.slice(PREFIX.length).split('_')[0] ?? '', 36);
    if (Number.isFinite(created) && created < cutoff) {
      await admin.unsafe(`drop database if exists "${datname}" with (force)`);
    }
  }
}

function slug(label: string): string {
  return (
    label
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '_')
      .slice(0, 24) || 'test'
  );
}
