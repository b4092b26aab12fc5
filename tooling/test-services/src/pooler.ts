import postgres from '@diana/postgres';
import { type PgBouncer, startPgBouncer } from './pgbouncer.js';

/** The pooler test databases are handed out through, held until `release()`. */
export interface PoolerLease {
  /** URL of `database` through the pooler, with `?pgbouncer=true`. */
  urlFor(database: string): string;
  /** Gives the lease back; the last one stops a private pooler. */
  release(): Promise<void>;
}

let privatePooler: Promise<PgBouncer> | undefined;
let leases = 0;
let sharedChecked: Promise<void> | undefined;

/**
 * The pooler `DIANA_TEST_POOLER` asks test databases to be handed out through: unset or `none`
 * → undefined (direct URLs). Known before any database is made, so a file that does not run
 * through a pooler can skip without making one.
 */
export function testPooler(): 'pgbouncer' | undefined {
  const mode = process.env.DIANA_TEST_POOLER || 'none';
  if (mode === 'none') return undefined;
  if (mode !== 'pgbouncer') throw new Error(`DIANA_TEST_POOLER=${mode}: expected pgbouncer or none`);
  return mode;
}

/**
 * A lease on the pooler of `testPooler()`: none → undefined (direct URLs); `pgbouncer` → the
 * PgBouncer named by `DIANA_TEST_PGBOUNCER_URL` (checked once; one that does not answer is an
 * error), else a private one started for this test process and stopped with its last database.
 */
export async function usePooler(): Promise<PoolerLease | undefined> {
  if (testPooler() === undefined) return undefined;
  const shared = process.env.DIANA_TEST_PGBOUNCER_URL;
  if (shared) {
    sharedChecked ??= probe(shared);
    await sharedChecked;
    return { urlFor: (database) => withDatabase(shared, database), release: async () => {} };
  }
  leases++;
  privatePooler ??= startPgBouncer({ pool_mode: 'transaction' });
  const pooler = await privatePooler.catch((error: unknown) => {
    leases--;
    privatePooler = undefined;
    throw error;
  });
  let released = false;
  return {
    urlFor: (database) => pooler.urlFor(database),
    async release() {
      if (released) return;
      released = true;
      if (--leases > 0) return;
      privatePooler = undefined;
      await pooler.stop();
    },
  };
}

function withDatabase(base: string, database: string): string {
  const url = new URL(base);
  url.pathname = `/${encodeURIComponent(database)}`;
  url.searchParams.set('pgbouncer', 'true');
  return url.toString();
}

async function probe(base: string): Promise<void> {
  const url = new URL(base);
  url.searchParams.delete('pgbouncer');
  if (url.pathname === '/' || url.pathname === '') url.pathname = '/postgres';
  const sql = postgres(url.toString(), { max: 1, connect_timeout: 3, prepare: false, onnotice: () => {} });
  try {
    await sql`select 1`;
  } catch (error) {
    throw new Error(`DIANA_TEST_PGBOUNCER_URL does not answer (${(error as Error).message})`);
  } finally {
    await sql.end({ timeout: 1 });
  }
}
