// pnpm bench:user-state — read-modify-write of one slice per update, through a grammY bot, on
// the same Redis: our ephemeral slice (compare-and-set in Lua) against grammY's session
// middleware with @grammyjs/storage-redis (GET, then SET — no compare-and-set). Then 50
// concurrent writers on one user: lost updates of each. Each round repeats its users, so our
// manager has seen them moments before (its first write needs no read); a second manager
// updates users whose records it has not seen (its first write is refused with the record, and
// it writes again: two round trips, as a read and a write). Then our persistent slice
// (PostgreSQL compare-and-set + Redis read-through cache), a turn's statements coalesced, beside
// each statement alone (postgres_batch_max: 1).

import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { createPostgres, migrate } from '@diana/db';
import { createRedisConnector } from '@diana/redis';
import {
  createTestDatabase,
  createUpdateFactory,
  deleteByPrefix,
  FAKE_BOT_INFO,
  getRedisUrl,
} from '@diana/test-services';
import { createUserStateManager, defineSlice, USER_STATE_MIGRATIONS } from '@diana/user-state';
import { createRedisStateStore } from '@diana/user-state/adapters/redis';
import { type UserStateFlavor, userStateMiddleware } from '@diana/user-state/grammy';
import type { RedisAdapter as RedisAdapterType } from '@grammyjs/storage-redis';
import { Bot, type Context, type SessionFlavor, session } from 'grammy';
import type { Update } from 'grammy/types';
import { Redis } from 'ioredis';
import * as v from 'valibot';
import { compare, getPeakRssMb, printGoal, ratio } from './harness.js';
import { measureServerCpu } from './server-cpu.js';

// @grammyjs/storage-redis 2.6.0 ships only its CommonJS build (its ESM entry is missing).
const { RedisAdapter } = createRequire(import.meta.url)('@grammyjs/storage-redis') as {
  RedisAdapter: typeof RedisAdapterType;
};

const url = await getRedisUrl();
const servers = measureServerCpu(Number(new URL(url).port || 6379));
const { hostname: host, port: portText } = new URL(url);
const port = Number(portText);
const run = randomBytes(3).toString('hex');
const prefix = `bench:us:${run}:`;
const out = (line: string) => process.stdout.write(`${line}\n`);

const counter = v.object({ n: v.number() });
const slices = [
  defineSlice('menu', { schema: counter, initial: { n: 0 }, persist: false, ttl_ms: 600_000 }),
  defineSlice('story', { schema: counter, initial: { n: 0 }, persist: true }),
] as const;
type Slices = typeof slices;
type OurContext = Context & UserStateFlavor<Slices>;
type TheirContext = Context & SessionFlavor<{ n: number }>;

const botInfo = FAKE_BOT_INFO;
const updates = createUpdateFactory();
const update = (from: number) => updates.message(from, 'tap') as Update;
// what a handler does between reading and writing (an API call, a query)
const work = (delay: boolean) => (delay ? new Promise((resolve) => setTimeout(resolve, 1)) : undefined);

const testDb = await createTestDatabase('bench-user-state');
const db = createPostgres({ url: testDb.url, pool_max: 10 });
await migrate(db, [USER_STATE_MIGRATIONS]);
const ourConfig = { key_prefix: `${prefix}ours:`, max_attempts: 10_000 };
const state = createUserStateManager(ourConfig, {
  db,
  store: createRedisStateStore(ourConfig, { connector: createRedisConnector({ options: { host, port } }) }),
  slices,
});
// a second process on the same keys: its users' records exist, but it has not seen them, so
// its guess of "no record" is refused with the record and it writes again (writing first's worst case)
const unseenState = createUserStateManager(ourConfig, {
  db,
  store: createRedisStateStore(ourConfig, { connector: createRedisConnector({ options: { host, port } }) }),
  slices,
});
// the same, each read and compare-and-set its own call (what the bus bench shows beside its batch)
const singleConfig = { key_prefix: `${prefix}single:`, max_attempts: 10_000, redis_batch_max: 1 };
const singleState = createUserStateManager(singleConfig, {
  db,
  store: createRedisStateStore(singleConfig, { connector: createRedisConnector({ options: { host, port } }) }),
  slices,
});
// persistent slices with each PostgreSQL read and compare-and-set its own statement
const unbatchedConfig = { key_prefix: `${prefix}unbatched:`, max_attempts: 10_000, postgres_batch_max: 1 };
const unbatchedState = createUserStateManager(unbatchedConfig, {
  db,
  store: createRedisStateStore(unbatchedConfig, { connector: createRedisConnector({ options: { host, port } }) }),
  slices,
});
const theirRedis = new Redis({ host, port, keyPrefix: `${prefix}theirs:` });

const ourBot = (slice: 'menu' | 'story', delay: boolean, manager = state) => {
  const bot = new Bot<OurContext>('0:bench', { botInfo });
  bot.use(userStateMiddleware(manager));
  bot.on('message', async (ctx) => {
    await ctx.userState?.update(slice, async (c) => {
      await work(delay);
      return { n: c.n + 1 };
    });
  });
  return bot;
};
const theirBot = (delay: boolean) => {
  const bot = new Bot<TheirContext>('0:bench', { botInfo });
  bot.use(
    session({
      initial: () => ({ n: 0 }),
      storage: new RedisAdapter<{ n: number }>({ instance: theirRedis, ttl: 600 }),
      getSessionKey: (ctx) => (ctx.from ? String(ctx.from.id) : undefined),
    }),
  );
  bot.on('message', async (ctx) => {
    await work(delay);
    ctx.session.n++;
  });
  return bot;
};

try {
  const ours = ourBot('menu', false);
  const single = ourBot('menu', false, singleState);
  const theirs = theirBot(false);
  const unseen = ourBot('menu', false, unseenState);
  // records for the unseen variant, one per update it will make (warm-up and rounds)
  const UNSEEN_FIRST = 5_000_000;
  const UNSEEN_USERS = 60_000;
  for (let at = 0; at < UNSEEN_USERS; at += 1_000)
    await Promise.all(
      Array.from({ length: 1_000 }, (_, i) => state.set(String(UNSEEN_FIRST + at + i), 'menu', { n: 1 })),
    );
  let unseenNext = 0;
  const distinct = await compare({
    servers,
    title: 'read-modify-write of one slice per update, distinct users (grammY handleUpdate, same Redis)',
    concurrency: 32,
    ops: 10_000,
    variants: [
      { name: 'ours (ephemeral, atomic)', op: (i) => ours.handleUpdate(update(1_000_000 + i)) },
      { name: 'ours, redis_batch_max: 1', op: (i) => single.handleUpdate(update(3_000_000 + i)) },
      {
        name: 'ours, users it has not seen',
        op: () => unseen.handleUpdate(update(UNSEEN_FIRST + (unseenNext++ % UNSEEN_USERS))),
      },
      { name: 'grammY session + storage-redis', op: (i) => theirs.handleUpdate(update(1_000_000 + i)) },
    ],
  });
  out(
    `  each read and compare-and-set its own call: ×${ratio(distinct, 'ours, redis_batch_max: 1', 'grammY session + storage-redis').toFixed(2)} grammY session`,
  );
  out(
    `  users this process has not seen (a guess refused, then written): ×${ratio(distinct, 'ours, users it has not seen', 'grammY session + storage-redis').toFixed(2)} grammY session; conflicts counted ${unseenState.stats().conflicts}`,
  );

  out('\nContention: 50 concurrent updates of one user, 1 ms of work inside each, 5 runs');
  const contended = { ours: ourBot('menu', true), theirs: theirBot(true) };
  let lostOurs = 0;
  let lostTheirs = 0;
  for (let runNo = 0; runNo < 5; runNo++) {
    const user = 9_000_000 + runNo;
    await Promise.all(Array.from({ length: 50 }, () => contended.ours.handleUpdate(update(user))));
    await Promise.all(Array.from({ length: 50 }, () => contended.theirs.handleUpdate(update(user))));
    lostOurs += 50 - (await state.get(String(user), 'menu')).n;
    const stored = await theirRedis.get(String(user));
    lostTheirs += 50 - (stored ? (JSON.parse(stored) as { n: number }).n : 0);
  }
  out(
    `  ours                             lost updates ${lostOurs} of 250 (conflicts retried: ${state.stats().conflicts})`,
  );
  out(`  grammY session + storage-redis   lost updates ${lostTheirs} of 250`);

  const persistent = ourBot('story', false);
  const persistentAlone = ourBot('story', false, unbatchedState);
  const stored = await compare({
    servers,
    title: 'our persistent slice: PostgreSQL compare-and-set + Redis cache, distinct users',
    concurrency: 32,
    ops: 5_000,
    variants: [
      { name: 'ours (persistent)', op: (i) => persistent.handleUpdate(update(2_000_000 + i)) },
      { name: 'ours, postgres_batch_max: 1', op: (i) => persistentAlone.handleUpdate(update(4_000_000 + i)) },
    ],
  });
  const coalesced = ratio(stored, 'ours (persistent)', 'ours, postgres_batch_max: 1');

  out('');
  const r = ratio(distinct, 'ours (ephemeral, atomic)', 'grammY session + storage-redis');
  printGoal(`ephemeral read-modify-write ≥ 1.2× grammY session + storage-redis (measured ×${r.toFixed(2)})`, r >= 1.2);
  printGoal('no lost updates under contention (ours)', lostOurs === 0);
  printGoal(
    `persistent slice ≥ 2× each statement alone (postgres_batch_max: 1) (measured ×${coalesced.toFixed(2)})`,
    coalesced >= 2,
  );
  out(`\npeak RSS ${getPeakRssMb().toFixed(0)} MB`);
} finally {
  await state.close();
  await singleState.close();
  await unseenState.close();
  await unbatchedState.close();
  theirRedis.disconnect();
  await db.close();
  await testDb.drop();
  await deleteByPrefix(url, prefix);
}
