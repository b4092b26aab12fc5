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
      // a bad value fails as it should, described again or not
      await expect(sql`select ${'x'}::int as n`).rejects.toMatchObject({ code: '22P02' });
      await expect(sql`select ${'y'}::int as n`).rejects.toMatchObject({ code: '22P02' });
    } finally {
      await sql`drop table if exists described_t`;
      await sql.end({ timeout: 1 });
    }
  });

  // A reviewer's case: the retry goes out describe-first (Parse, Describe, Flush; its Bind once
  // described) on a connection the pool still takes queries on. A query written meanwhile landed
  // between that Describe and that Bind, replaced the unnamed statement, and the two took each
  // other's answers: the failed SELECT's value was written by the other caller's UPDATE.
  it('@diana/postgres: a retried query and one sent while it is described again keep their own statements and answers', async () => {
    const sql = vendored(db?.url as string, { max: 1, prepare: false, onnotice: () => {} });
    try {
      await sql`create table described_r (id int, v text)`;
      await sql`insert into described_r values (1, 'one'), (2, 'two')`;
      const lookup = (id: string) => sql.unsafe<{ v: string }[]>('select v from described_r where id = $1', [id]);
      const rename = (v: string) => sql.unsafe('update described_r set v = $1 where id = 1', [v]);
      expect(await lookup('1')).toEqual([{ v: 'one' }]);
      await rename('one'); // both kept
      // (a query goes out when it is awaited or executed: executed here, in this order)
      const bad = lookup('HACKED').execute(); // 22P02 at the Bind: described again, retried
      let renamed: Promise<unknown> | undefined;
      const between = sql`select 'c' as c`.execute().then(() => {
        renamed = rename('uno').execute(); // issued while the retry waits for its description
      });
      await expect(bad).rejects.toMatchObject({ code: '22P02' });
      await between;
      expect((await renamed) as unknown as { count: number }).toMatchObject({ count: 1 });
      expect(await sql`select id, v from described_r order by id`).toEqual([
        { id: 1, v: 'uno' },
        { id: 2, v: 'two' },
      ]);

      // the same under load: three callers, one connection, every 7th value bad; each answer its own
      const answers = await Promise.all(
        Array.from({ length: 3 }, async (_, caller) => {
          const wrong: string[] = [];
          for (let i = 0; i < 100; i++) {
            const n = caller * 1000 + i;
            const bad = n % 7 === 0;
            try {
              const [row] = await sql.unsafe<{ n: number }[]>('select $1::int as n', [bad ? `x${n}` : String(n)]);
              if (bad || row?.n !== n) wrong.push(`${n}: ${JSON.stringify(row)}`);
            } catch (error) {
              if (!bad || (error as { code?: string }).code !== '22P02') wrong.push(`${n}: ${String(error)}`);
            }
          }
          return wrong;
        }),
      );
      expect(answers.flat()).toEqual([]);
    } finally {
      await sql`drop table if exists described_r`;
      await sql.end({ timeout: 1 });
    }
  });

  it('@diana/postgres: a cancelled or timed-out query with kept types is not run again', async () => {
    const sql = vendored(db?.url as string, { max: 2, prepare: false, onnotice: () => {} });
    const locker = vendored(db?.url as string, { max: 1, onnotice: () => {} });
    try {
      await sql`create table described_c (id int, v text)`;
      await sql`insert into described_c values (1, 'one')`;
      const write = (v: string) => sql.unsafe('update described_c set v = $1 where id = 1', [v]);
      await write('one'); // kept
      // the table locked elsewhere: the write waits in its Parse (which takes the table's lock)
      const released = locker.begin(async (tx) => {
        await tx`lock table described_c in access exclusive mode`;
        const waiting = write('CANCELLED').execute(); // sent now (a query goes out when awaited or executed)
        // cancelled once the server shows it waiting for the lock (a cancel that came before the
        // server read it would be lost, and the write would wait for ever on this transaction)
        const deadline = Date.now() + 10_000;
        const blocked = async () =>
          (
            await tx<{ n: number }[]>`
              select count(*)::int as n from pg_stat_activity
              where wait_event_type = 'Lock' and query like 'update described_c%'`
          )[0]?.n ?? 0;
        while ((await blocked()) === 0 && Date.now() < deadline)
          await new Promise((resolve) => setTimeout(resolve, 20));
        expect(await blocked()).toBe(1);
        await waiting.cancel();
        await expect(waiting).rejects.toMatchObject({ code: '57014' });
      });
      await released;
      // once the lock is gone, the cancelled write has not run after all
      expect(await sql`select v from described_c`).toEqual([{ v: 'one' }]);
    } finally {
      await sql`drop table if exists described_c`;
      await sql.end({ timeout: 1 });
      await locker.end({ timeout: 1 });
    }
  });
});
