// pnpm bench:db — UserRepository (through our Database: validation, coded errors, stats,
// metrics) against raw postgres.js running the same SQL with the same pool size: the stock
// package (the issue's peer) and our vendored copy of it, `@diana/postgres`, which UserRepository
// runs on. Against the stock driver the ratio holds the vendored driver's fixes too (its pool
// queue no longer slows down under steady load); against the same driver it is the repository's
// own cost alone. Then a transaction of two statements and a long statement the same three ways. Each line also
// gives this process's CPU time per operation: the client's cost, which the server's does not blur.
import { createPostgres, createUserRepository, DB_MIGRATIONS, migrate } from '@diana/db';
import vendored from '@diana/postgres';
import { createTestDatabase, findPgBouncer, startPgBouncer } from '@diana/test-services';
import { newId } from '@diana/utils';
import postgres from 'postgres';
import { compare, printGoal, ratio } from './harness.js';

const POOL = 10;
const CONCURRENCY = 32;
const OPS = 15_000;
const USERS = 5_000;

const testDb = await createTestDatabase('bench-db');
const db = createPostgres({ url: testDb.url, pool_max: POOL });
const stock = postgres(testDb.url, { max: POOL, onnotice: () => {} });
// the vendored copy's types are the stock ones under another path: the same API, cast once
const same = vendored(testDb.url, { max: POOL, onnotice: () => {} }) as unknown as typeof stock;
const STOCK = 'raw postgres.js (stock)';
const SAME = 'raw, the same driver';
const OURS = 'ours: UserRepository';
try {
  await migrate(db, [DB_MIGRATIONS]);
  const users = createUserRepository(db);
  const tgUser = (i: number) => ({
    id: 100_000 + (i % USERS),
    first_name: `User ${i % USERS}`,
    username: `u${i % USERS}`,
    language_code: 'es',
  });

  // Same statement as UserRepository.upsertFromTelegram and getByTelegramId, on either driver.
  const rawUpsert = (raw: typeof stock) => (i: number) => {
    const u = tgUser(i);
    return raw`
      insert into users (id, telegram_id, username, first_name, last_name, language_code, last_seen_at)
      values (${newId()}, ${u.id}, ${u.username}, ${u.first_name}, ${null}, ${u.language_code}, now())
      on conflict (telegram_id) do update set
        username = excluded.username, first_name = excluded.first_name,
        last_name = excluded.last_name, language_code = excluded.language_code,
        updated_at = case
          when (users.username, users.first_name, users.last_name, users.language_code)
               is distinct from (excluded.username, excluded.first_name, excluded.last_name, excluded.language_code)
          then now() else users.updated_at end
      returning *, (xmax = 0) as created`;
  };
  const rawGet = (raw: typeof stock) => (i: number) => raw`select * from users where telegram_id = ${tgUser(i).id}`;

  const upsert = await compare({
    title: 'UserRepository.upsertFromTelegram vs raw postgres.js (same SQL, pool 10; the same driver: @diana/postgres)',
    concurrency: CONCURRENCY,
    ops: OPS,
    rounds: 7,
    variants: [
      { name: OURS, op: (i) => users.upsertFromTelegram(tgUser(i)) },
      { name: SAME, op: rawUpsert(same) },
      { name: STOCK, op: rawUpsert(stock) },
    ],
  });
  const get = await compare({
    title: 'UserRepository.getByTelegramId vs raw postgres.js (same SQL, pool 10; the same driver: @diana/postgres)',
    concurrency: CONCURRENCY,
    ops: OPS,
    rounds: 7,
    variants: [
      { name: OURS, op: (i) => users.getByTelegramId(tgUser(i).id) },
      { name: SAME, op: rawGet(same) },
      { name: STOCK, op: rawGet(stock) },
    ],
  });
  // A transaction of two statements (nothing written: the client's cost, not the disk's), the
  // same body on each side
  type Tag = (strings: TemplateStringsArray, ...values: Array<string | number>) => Promise<unknown>;
  const twoStatements = (i: number) => async (tx: Tag) => {
    await tx`select ${i}::int as a`;
    return tx`select ${tgUser(i).username}::text as b`;
  };
  const rawTx = (raw: typeof stock) => (i: number) => raw.begin(twoStatements(i));
  await compare({
    title: 'a transaction of two statements: Database.transaction vs raw postgres.js begin()',
    concurrency: CONCURRENCY,
    ops: OPS,
    rounds: 5,
    variants: [
      { name: 'ours: Database.transaction', op: (i) => db.transaction(twoStatements(i)) },
      { name: SAME, op: rawTx(same) },
      { name: STOCK, op: rawTx(stock) },
    ],
  });
  // A long statement (the shape of the ledger's award: a 1 KB CTE, 12 parameters), read-only so
  // that the client's cost of building it shows: the vendored driver builds a template's text and
  // signature once (see packages/vendor/postgres/README.md)
  const VIP = ['VIP', 'CONTENT_CREATOR', 'MODERATOR', 'ADMIN', 'OWNER'];
  const rawLong = (raw: typeof stock) => (i: number) => {
    const u = tgUser(i);
    return raw`
      with wanted as (
        select ${u.id}::bigint as telegram_id, ${i % 3 === 0 ? 'gift' : 'earn'}::text as kind,
               ${1 + (i % 50)}::int as amount, ${'Europe/Madrid'}::text as tz, ${`decision:${i}`}::text as source_event_id
      ), found as (
        select u.id, u.role, u.first_name, u.language_code from users u, wanted w
        where u.telegram_id = w.telegram_id and u.status = ${'active'}
      ), due as (
        select case when (select kind from wanted) = ${'earn'} then least((select amount from wanted),
                 (case when (select role from found) = any(${VIP}::text[]) then ${500}::int else ${200}::int end))
               else (select amount from wanted) end as amount
      )
      select found.id, found.role, found.first_name, due.amount, (select source_event_id from wanted) as source_event_id,
             (now() at time zone (select tz from wanted))::date::text as day, ${i % 2 === 0} as even,
             ${u.username}::text as username, coalesce(found.language_code, ${'es'}) as language
      from found, due`;
  };
  await compare({
    title: 'a long statement (a 1 KB CTE, 12 parameters): Database.sql vs raw postgres.js',
    concurrency: CONCURRENCY,
    ops: OPS,
    rounds: 5,
    variants: [
      { name: 'ours: Database.sql', op: rawLong(db.sql as unknown as typeof stock) },
      { name: SAME, op: rawLong(same) },
      { name: STOCK, op: rawLong(stock) },
    ],
  });
  // Behind PgBouncer in transaction mode (prepare: false): stock postgres.js describes each query
  // with parameters before binding it, two round trips every time; @diana/postgres keeps the
  // types it was told and sends a query met again in one (packages/vendor/postgres/README.md).
  // Skipped without pgbouncer installed.
  if (findPgBouncer()) {
    const bouncer = await startPgBouncer({ pool_mode: 'transaction', default_pool_size: POOL });
    const pooledUrl = bouncer.urlFor(testDb.name);
    const bare = new URL(pooledUrl);
    bare.searchParams.delete('pgbouncer');
    const pooledDb = createPostgres({ url: pooledUrl, direct_url: testDb.url, pool_max: POOL });
    const pooledStock = postgres(bare.toString(), { max: POOL, prepare: false, onnotice: () => {} });
    try {
      const pooledUsers = createUserRepository(pooledDb);
      await compare({
        title:
          'through PgBouncer (transaction mode, prepare: false): UserRepository.getByTelegramId vs raw postgres.js',
        concurrency: CONCURRENCY,
        ops: OPS,
        rounds: 5,
        variants: [
          { name: OURS, op: (i) => pooledUsers.getByTelegramId(tgUser(i).id) },
          { name: STOCK, op: rawGet(pooledStock) },
        ],
      });
    } finally {
      await pooledStock.end();
      await pooledDb.close();
      await bouncer.stop();
    }
  }
  const upsertOverhead = 1 - ratio(upsert, OURS, STOCK);
  const getOverhead = 1 - ratio(get, OURS, STOCK);
  const pct = (x: number) => `${(x * 100).toFixed(1)}%`;
  process.stdout.write(
    `\noverhead against the stock driver: upsert ${pct(upsertOverhead)}, get ${pct(getOverhead)} (negative: ours faster)\n` +
      `the repository's own, against the same driver: upsert ${pct(1 - ratio(upsert, OURS, SAME))}, get ${pct(1 - ratio(get, OURS, SAME))}\n`,
  );
  // (1 − a ratio above ×2 reads as an overhead below −100%: the goal line gives the ratio instead)
  const measured = (overhead: number) =>
    overhead >= 0 ? `measured ${pct(overhead)}` : `none: ours ×${(1 - overhead).toFixed(2)} the stock driver's rate`;
  printGoal(`overhead ≤ 5% on upsert (#21; ${measured(upsertOverhead)})`, upsertOverhead <= 0.05);
  printGoal(`overhead ≤ 5% on get (#21; ${measured(getOverhead)})`, getOverhead <= 0.05);
} finally {
  await stock.end();
  await same.end();
  await db.close();
  await testDb.drop();
}
