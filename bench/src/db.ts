// pnpm bench:db — UserRepository (through our Database: validation, coded errors, stats,
// metrics) against raw postgres.js running the same SQL with the same pool size.
import { createPostgres, createUserRepository, DB_MIGRATIONS, migrate } from '@diana/db';
import { createTestDatabase } from '@diana/test-services';
import { newId } from '@diana/utils';
import postgres from 'postgres';
import { compare, printGoal, ratio } from './harness.js';

const POOL = 10;
const CONCURRENCY = 32;
const OPS = 15_000;
const USERS = 5_000;

const testDb = await createTestDatabase('bench-db');
const db = createPostgres({ url: testDb.url, pool_max: POOL });
const raw = postgres(testDb.url, { max: POOL, onnotice: () => {} });
try {
  await migrate(db, [DB_MIGRATIONS]);
  const users = createUserRepository(db);
  const tgUser = (i: number) => ({
    id: 100_000 + (i % USERS),
    first_name: `User ${i % USERS}`,
    username: `u${i % USERS}`,
    language_code: 'es',
  });

  // Same statement as UserRepository.upsertFromTelegram and getByTelegramId.
  const rawUpsert = (i: number) => {
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
  const rawGet = (i: number) => raw`select * from users where telegram_id = ${tgUser(i).id}`;

  const upsert = await compare({
    title: 'UserRepository.upsertFromTelegram vs raw postgres.js (same SQL, pool 10)',
    concurrency: CONCURRENCY,
    ops: OPS,
    rounds: 7,
    variants: [
      { name: 'ours: UserRepository', op: (i) => users.upsertFromTelegram(tgUser(i)) },
      { name: 'raw postgres.js', op: rawUpsert },
    ],
  });
  const get = await compare({
    title: 'UserRepository.getByTelegramId vs raw postgres.js (same SQL, pool 10)',
    concurrency: CONCURRENCY,
    ops: OPS,
    rounds: 7,
    variants: [
      { name: 'ours: UserRepository', op: (i) => users.getByTelegramId(tgUser(i).id) },
      { name: 'raw postgres.js', op: rawGet },
    ],
  });
  const upsertOverhead = 1 - ratio(upsert, 'ours: UserRepository', 'raw postgres.js');
  const getOverhead = 1 - ratio(get, 'ours: UserRepository', 'raw postgres.js');
  process.stdout.write(
    `\noverhead: upsert ${(upsertOverhead * 100).toFixed(1)}%, get ${(getOverhead * 100).toFixed(1)}% (negative: ours faster)\n`,
  );
  printGoal(`overhead ≤ 5% on upsert (#21; measured ${(upsertOverhead * 100).toFixed(1)}%)`, upsertOverhead <= 0.05);
  printGoal(`overhead ≤ 5% on get (#21; measured ${(getOverhead * 100).toFixed(1)}%)`, getOverhead <= 0.05);
} finally {
  await raw.end();
  await db.close();
  await testDb.drop();
}
