// Queries queued on one busy connection settle, each with its own answer, when one of them is
// retried, cancelled or fails before it is written (a reviewer's cases; each hung the connection
// for good on stock postgres.js 3.4.9, and the first on the deferral of describe-first queries
// before it kept queue order). One connection, so every query queues behind the one before.
import vendored from '@diana/postgres';
import { testPooler, useTestDatabase } from '@diana/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// a test of the driver against the server: through PgBouncer (DIANA_TEST_POOLER) it is skipped
const pooled = testPooler() !== undefined;
const db = pooled ? undefined : await useTestDatabase('db-queue-order');

/** `work`, or a failure naming `what` after 5 s: a hang fails the test instead of stalling it. */
const within = <T>(what: string, work: Promise<T>) => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not settled after 5 s`)), 5_000);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
};

describe.skipIf(pooled)('queries queued on one connection', () => {
  const sql = vendored(db?.url ?? '', { max: 1, prepare: true, onnotice: () => {} });
  beforeAll(async () => {
    await sql`create table queue_order (id int, a int)`;
    await sql`insert into queue_order values (1, 10)`;
  });
  afterAll(async () => {
    await sql.end({ timeout: 1 });
  });

  it('a prepared query retried behind a describe-first query that waits its turn: both answered, in order', async () => {
    const read = () => sql<{ id: number }[]>`select * from queue_order where id = ${1}`;
    await read(); // prepared
    await sql`alter table queue_order add column b int`; // its next run: "cached plan must not change result type"
    const retried = read(); // written at once; fails, retried
    const waiting = sql<{ n: number }[]>`select ${7}::int + 0 as n`; // new statement: describe-first, waits behind it
    const [rows, [n]] = await within('the retried query and the one behind it', Promise.all([retried, waiting]));
    expect(rows).toEqual([{ id: 1, a: 10, b: null }]);
    expect(n).toEqual({ n: 7 });
    expect(await within('the next query', sql`select ${5}::int as n`)).toEqual([{ n: 5 }]);
  });

  it('a query cancelled while it waits its turn fails unsent, and cancels no other', async () => {
    for (let i = 0; i < 5; i++) {
      // 0.5 s: the one before must still run when the cancel comes a tick later (a 50 ms sleep let a
      // stalled test process find the waiting query sent and answered)
      const running = sql`select pg_sleep(0.5), ${i}::int as i`.execute();
      const waiting = sql`select ${i}::int + 100 as n`.execute(); // describe-first, waits behind
      await new Promise((resolve) => setImmediate(resolve));
      await waiting.cancel();
      await expect(within('the cancelled query', waiting)).rejects.toMatchObject({ code: '57014' });
      expect((await within('the query before it', running))[0]?.i).toBe(i);
      // the next query is not the one a late cancel request hits
      expect(await within('the next query', sql`select ${i}::int as n, pg_sleep(0.05)`)).toEqual([
        { n: i, pg_sleep: '' },
      ]);
    }
  });

  it('a query cancelled before it reaches the connection leaves the connection free', async () => {
    const query = sql`select ${1}::int as n`;
    query.cancel();
    await expect(query).rejects.toMatchObject({ code: '57014' });
    expect(await within('the next query', sql`select 2 as n`)).toEqual([{ n: 2 }]);
  });

  it('a query that cannot be built behind a running one fails alone; the running one and the next are answered', async () => {
    const running = sql`select pg_sleep(0.05), 1 as n`.execute();
    const broken = sql`select ${undefined as unknown as number}::int as n`.execute();
    await expect(within('the broken query', broken)).rejects.toMatchObject({ code: 'UNDEFINED_VALUE' });
    expect((await within('the running query', running))[0]?.n).toBe(1);
    expect(await within('the next query', sql`select ${3}::int as n`)).toEqual([{ n: 3 }]);
  });
});
