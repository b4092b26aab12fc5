import postgres from '@diana/postgres';
import { afterAll, expect, it } from 'vitest';
import { createTestDatabase } from '../src/postgres.js';
import { describeDatabase } from '../src/stuck.js';

// through the pooler when DIANA_TEST_POOLER=pgbouncer (CI's pooler pass), else direct
const db = await createTestDatabase('stuck');
const holder = postgres(db.direct_url, { max: 1, onnotice: () => {} });
const waiter = postgres(db.url.replace('?pgbouncer=true', ''), { max: 1, prepare: false, onnotice: () => {} });
afterAll(async () => {
  await Promise.all([holder.end({ timeout: 1 }), waiter.end({ timeout: 1 })]);
  await db.drop();
});

it('names the sessions of a database, the one waiting on a lock among them', async () => {
  await holder`create table t (id int primary key)`;
  await holder`insert into t values (1)`;
  let release: () => void = () => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let locked: () => void = () => {};
  const hasLock = new Promise<void>((resolve) => {
    locked = resolve;
  });
  const holding = holder.begin(async (tx) => {
    await tx`update t set id = 1 where id = 1`;
    locked();
    await held;
  });
  await hasLock; // the holder has its row lock before the waiter asks
  const waiting = waiter`update t set id = 1 where id = 1`.execute(); // postgres.js sends when asked
  // the whole picture, not only the count: PostgreSQL can report the block (pg_blocking_pids) a
  // moment before the waiter's wait_event says Lock (seen in CI under load: "active -")
  const waitLine =
    /(\d+) idle in transaction .*\| \d+ active Lock:transactionid \S+ waits for \1 «update t set id = 1 where id = 1»/;
  let line = '';
  for (let deadline = Date.now() + 10_000; !waitLine.test(line) && Date.now() < deadline; )
    line = await describeDatabase(db);
  release();
  await Promise.all([holding, waiting]);
  expect(line, line).toMatch(/1 lock waits/);
  expect(line).toMatch(/idle in transaction/); // the holder, waiting on its test
  expect(line).toMatch(waitLine);
  if (db.pooler === 'pgbouncer') expect(line).toMatch(/pgbouncer: cl_active \d+ cl_waiting \d+/);
});
