// Queries with parameters without prepared statements (prepare: false, what a transaction pooler
// needs). Stock postgres.js 3.4.9 described each one before binding it: two round trips every
// time. @diana/postgres keeps the parameter types the server described and sends a query met again
// whole, in one round trip; a query whose kept types went stale (a column's type changed) is
// described again and retried once, its values as given. Stock runs beside ours.
import vendored from '@diana/postgres';
import { startTcpProxy, testPooler, useTestDatabase } from '@diana/test-services';
import stock from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';

type Driver = typeof vendored;

// a test of the driver against the server: through PgBouncer (DIANA_TEST_POOLER) it is skipped
const pooled = testPooler() !== undefined;
const db = pooled ? undefined : await useTestDatabase('db-described');
const proxy = db ? await startTcpProxy(Number(new URL(db.url).port || 5432)) : undefined;
afterAll(async () => {
  await proxy?.close();
});

/** The test database through the proxy, which counts what clients write. */
const viaProxy = () => {
  const url = new URL(db?.url as string);
  url.hostname = '127.0.0.1';
  url.port = String(proxy?.port);
  return url.toString();
};

async function writesPerQuery(driver: Driver) {
  const sql = driver(viaProxy(), { max: 1, prepare: false, onnotice: () => {} });
  try {
    await sql`select 1`; // connected, types fetched
    const before = proxy?.client_chunks ?? 0;
    for (let i = 0; i < 20; i++) {
      const [row] = await sql<{ n: number }[]>`select ${i}::int + 1 as n`;
      expect(row?.n).toBe(i + 1);
    }
    return ((proxy?.client_chunks ?? 0) - before) / 20;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

describe.skipIf(pooled)('a query with parameters, prepare: false', () => {
  it('stock postgres.js 3.4.9: two writes (round trips) every time', async () => {
    expect(await writesPerQuery(stock as unknown as Driver)).toBeGreaterThanOrEqual(2);
  });

  it('@diana/postgres: one write once its parameter types are known', async () => {
    // the first run describes (two writes), the nineteen after it one each
    expect(await writesPerQuery(vendored)).toBeLessThanOrEqual(21 / 20);
  });

  it('@diana/postgres: a column whose type changed under kept types — described again, retried once, values as given', async () => {
    const sql = vendored(db?.url as string, { max: 1, prepare: false, onnotice: () => {} });
    try {
      await sql`create table described_t (a int, j jsonb)`;
      const insert = (a: number | string, k: number) =>
        sql`insert into described_t (a, j) values (${a}, ${sql.json({ k })})`;
      const count = (a: number | string) =>
        sql<{ n: number }[]>`select count(*)::int as n from described_t where a = ${a}`;
      await insert(1, 1);
      await insert(2, 2); // kept types: int4, jsonb
      expect((await count(1))[0]?.n).toBe(1);
      expect((await count(2))[0]?.n).toBe(1); // kept: int4
      await sql`alter table described_t alter column a type text using a::text`;
      // the kept int4 no longer fits: the Parse is refused (nothing ran), described again, retried
      await insert('tres', 3);
      expect((await count('tres'))[0]?.n).toBe(1);
      const rows = await sql<{ a: string; j: unknown }[]>`select a, j from described_t order by j->>'k'`;
      // the retried json value is the object, not a JSON string of it
      expect(rows).toEqual([
        { a: '1', j: { k: 1 } },
        { a: '2', j: { k: 2 } },
        { a: 'tres', j: { k: 3 } },
      ]);
      // an error that is not the Parse's is not retried (a unique violation, a bad value)
      await expect(sql`select ${'x'}::int as n`).rejects.toMatchObject({ code: '22P02' });
      await expect(sql`select ${'y'}::int as n`).rejects.toMatchObject({ code: '22P02' });
    } finally {
      await sql`drop table if exists described_t`;
      await sql.end({ timeout: 1 });
    }
  });
});
