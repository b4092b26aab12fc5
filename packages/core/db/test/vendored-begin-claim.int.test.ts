// A transaction's BEGIN written to a busy connection as the query that fills its pipeline
// (max_pipeline), as happens when every connection of a saturated pool is busy. Stock
// postgres.js 3.4.9 skipped the transaction's claim on the connection there: the transaction
// failed, and the connection went back to the pool idle in a transaction that nobody would commit,
// so later callers' statements ran inside it (porsager/postgres#1189). Stock is run beside
// @diana/postgres, so the test also proves the defect is real here.
import vendored from '@diana/postgres';
import { testPooler, useTestDatabase } from '@diana/test-services';
import stock from 'postgres';
import { describe, expect, it } from 'vitest';

// A test of the driver against the server; through PgBouncer (DIANA_TEST_POOLER) it is skipped,
// as vitest runs no afterAll in a file whose tests are all skipped nothing is made then.
const pooled = testPooler() !== undefined;
const url = pooled ? '' : (await useTestDatabase('db-begin-claim')).url;

type Driver = typeof vendored;

async function scenario(driver: Driver) {
  const max = 2;
  // max_pipeline is a driver option its type definitions do not list
  const sql = driver(url, { max, onnotice: () => {}, ...({ max_pipeline: 1 } as object) });
  try {
    await Promise.all(Array.from({ length: max }, () => sql`select 1`)); // both connections open
    // every connection busy, each with one statement in flight: the next query, BEGIN, is
    // pipelined onto one of them and fills it
    const busy = Array.from({ length: max }, () => sql`select pg_sleep(0.2)`.execute());
    const transaction = await sql
      .begin((tx) => tx`select 1`)
      .then(
        () => 'committed',
        (error: { code?: string; message: string }) => `failed: ${error.code ?? error.message}`,
      );
    await Promise.all(busy);
    // statements outside any transaction: each gets a transaction id of its own, unless it runs
    // inside one left open
    const ids: string[] = [];
    for (let i = 0; i < 2 * max; i++) {
      const [row] = await sql<{ x: string }[]>`select txid_current()::text as x`;
      ids.push(row?.x as string);
    }
    return { transaction, ids };
  } finally {
    await sql.end({ timeout: 1 });
  }
}

describe.skipIf(pooled)('a BEGIN that fills a busy connection’s pipeline', () => {
  it('stock postgres.js 3.4.9: the transaction fails and later statements run inside the transaction it left open', async () => {
    const seen = await scenario(stock as unknown as Driver);
    expect(seen.transaction).toBe('failed: UNSAFE_TRANSACTION');
    expect(new Set(seen.ids).size).toBeLessThan(seen.ids.length);
  });

  it('@diana/postgres: the transaction claims the connection and commits; later statements run on their own', async () => {
    const seen = await scenario(vendored);
    expect(seen.transaction).toBe('committed');
    expect(new Set(seen.ids).size).toBe(seen.ids.length);
  });
});
