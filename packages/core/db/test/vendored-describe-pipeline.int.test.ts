// A query with parameters pipelined behind a query without, through PgBouncer in transaction
// mode. With prepare: false (what a transaction pooler needs) every query with parameters is
// "describe-first": Parse, Describe and Flush, its Bind sent once the server has described the
// parameters. PgBouncer before 1.21 counts only Syncs, so it released the server at the first
// query's ReadyForQuery while the second's Parse was on it: "got packet '1' from server when not
// linked", the server closed as dirty, and the second query never settled
// (pgbouncer/pgbouncer#759). A stranger's bots met it in bursts behind PgBouncer 1.18. Stock
// postgres.js 3.4.9 runs beside @diana/postgres, so the test also proves the defect is real here.
import vendored from '@diana/postgres';
import { findPgBouncer, type PgBouncer, startPgBouncer, useTestDatabase } from '@diana/test-services';
import stock from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

type Driver = typeof vendored;

// PgBouncer is a Debian package (CI installs it); without it this file says so and skips
const installed = findPgBouncer() !== undefined;
if (!installed)
  process.stdout.write('[@diana/db] describe-first pipelining tests skipped: pgbouncer is not installed\n');

const PAIRS = 200;
const SETTLE_MS = 3_000;

// made at the file's top, so that it is dropped after the file's tests (not from inside a hook)
const db = installed ? await useTestDatabase('db-describe-pipeline') : undefined;
let bouncer: PgBouncer;
let url: string;

beforeAll(async () => {
  if (!db) return;
  bouncer = await startPgBouncer({ pool_mode: 'transaction', default_pool_size: 2 });
  const pooled = new URL(bouncer.urlFor(db.name));
  pooled.searchParams.delete('pgbouncer'); // @diana/db's flag; the bare driver would send it
  url = pooled.toString();
});
afterAll(async () => {
  await bouncer?.stop();
});

/** Pairs of queries on one connection until a pair does not settle in time or fails. */
async function pairs(driver: Driver) {
  const logBefore = bouncer.log().length;
  const sql = driver(url, { max: 1, prepare: false, onnotice: () => {} });
  let answered = 0;
  let outcome = 'all answered';
  try {
    for (let i = 0; i < PAIRS && outcome === 'all answered'; i++) {
      // no parameters: written with its Sync, and the connection takes the next query at once
      const first = sql`select pg_sleep(0.002)`.execute();
      // parameters, a text not met before (@diana/postgres keeps the types of one it has met, and
      // sends that in one go): describe-first, on the same connection while the first is in flight
      const second = sql.unsafe<{ n: number }[]>(`select $1::int as n /* pair ${i} */`, [i]);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<string>((resolve) => {
        timer = setTimeout(() => resolve(`pair ${i}: not settled after ${SETTLE_MS} ms`), SETTLE_MS);
      });
      const both = Promise.all([first, second]).then(
        ([, rows]) => (rows[0]?.n === i ? undefined : `pair ${i}: wrong answer ${JSON.stringify(rows)}`),
        (error: Error) => `pair ${i}: ${error.message}`,
      );
      const problem = await Promise.race([both, late]);
      clearTimeout(timer);
      if (problem === undefined) answered++;
      else outcome = problem;
    }
  } finally {
    await sql.end({ timeout: 0.5 }).catch(() => {});
  }
  return {
    answered,
    outcome,
    warnings:
      bouncer
        .log()
        .slice(logBefore)
        .match(/when not linked/g)?.length ?? 0,
  };
}

describe.skipIf(!installed)('a query with parameters pipelined behind another, through PgBouncer', () => {
  it('stock postgres.js 3.4.9: PgBouncer loses the server under the second query, which does not settle', async () => {
    const seen = await pairs(stock as unknown as Driver);
    expect(seen.outcome).not.toBe('all answered');
    expect(seen.warnings).toBeGreaterThan(0);
  });

  it('@diana/postgres: every pair is answered and PgBouncer sees no stray packet', async () => {
    const seen = await pairs(vendored);
    expect(seen).toEqual({ answered: PAIRS, outcome: 'all answered', warnings: 0 });
  });
});
