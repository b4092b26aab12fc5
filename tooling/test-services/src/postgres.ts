import { createHash, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
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
// A name carries its maker: the time, the process id and a tag of this host. One made on this
// host by a process that is gone is swept at once — a test file's afterAll does not run when a
// `-t` filter leaves none of its tests to run, and vitest ends its workers with SIGTERM.
const HOST = createHash('sha256').update(hostname()).digest('hex').slice(0, 4);
let swept: Promise<void> | undefined;

/** Creates an empty database on the test server; the caller drops it. */
export async function createTestDatabase(label: string): Promise<TestDatabase> {
  const adminUrl = await getPostgresUrl();
  const maker = `${Date.now().toString(36)}_${process.pid.toString(36)}${HOST}`;
  const name = `${PREFIX}${maker}_${slug(label)}_${randomBytes(3).toString('hex')}`.slice(0, 63);
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

/**
 * Drops the test databases left behind: older than two hours, or made on this host by a process
 * that is gone. Runs by itself before a process's first `createTestDatabase`.
 */
export async function sweepTestDatabases(): Promise<void> {
  const admin = postgres(await getPostgresUrl(), { max: 1, onnotice: () => {} });
  try {
    await sweepStale(admin);
  } finally {
    await admin.end({ timeout: 5 });
  }
}

async function sweepStale(admin: postgres.Sql): Promise<void> {
  const rows = await admin<{ datname: string }[]>`
    select datname from pg_database where datname like ${`${PREFIX}%`}`;
  const cutoff = Date.now() - STALE_AFTER_MS;
  for (const { datname } of rows) {
    const [time = '', owner = ''] = datname.slice(PREFIX.length).split('_');
    const created = Number.parseInt(time, 36);
    const orphan = owner.endsWith(HOST) && !alive(Number.parseInt(owner.slice(0, -HOST.length), 36));
    if ((Number.isFinite(created) && created < cutoff) || orphan) {
      await admin.unsafe(`drop database if exists "${datname}" with (force)`);
    }
  }
}

function alive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return true; // not a pid: leave it to the age rule
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
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
