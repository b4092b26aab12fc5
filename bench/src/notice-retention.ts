// pnpm bench:notice-retention — removing told payment notices past their retention while payments
// go on. A table holds `OLD` told notices a week and a day old (one in a thousand left `sending`)
// and `RECENT` told ones; a writer tells new notices (insert `pending`, then `sending`, then
// `sent`: a payment's and the notices consumer's three writes) at
// `RATE`/s throughout. Ours: the gamification module's loop (`start()`, batches of 1 000 that
// skip held rows, its interval cut to 1 ms so the rounds are back to back). The peer: what a cron
// job would run, one DELETE of every row past the retention. Each round starts from the same rows;
// rounds alternate. Printed: rows removed per second, the writer's p50/p99 during the removal,
// the longest lock the removal held on rows (ours: one batch; the peer: the whole statement), peak RSS.
import { CONFIG_EVENTS, CONFIG_MIGRATIONS, createConfigManager } from '@diana/config';
import { createPostgres, createUserRepository, DB_MIGRATIONS, migrate } from '@diana/db';
import { createEventBus, createMemoryTransport, EVENT_BUS_MIGRATIONS, mergeEvents } from '@diana/event-bus';
import {
  createGamificationModule,
  GAMIFICATION_EVENTS,
  GAMIFICATION_MIGRATIONS,
  GAMIFICATION_TEMPLATES,
} from '@diana/gamification';
import { createCallbackSigner } from '@diana/security';
import { captureLogLines, createTestDatabase, FAKE_BOT_INFO } from '@diana/test-services';
import { createLogger, newId } from '@diana/utils';
import { Bot } from 'grammy';
import { getPeakRssMb, percentile, SHORT, scaled } from './harness.js';

const OLD = scaled(200_000);
const RECENT = scaled(50_000);
const RATE = 200;
const ROUNDS = SHORT ? 1 : 3;
const WEEK_MS = 7 * 86_400_000;
const out = (line: string) => process.stdout.write(`${line}\n`);

const testDb = await createTestDatabase('bench-notice-retention');
const db = createPostgres({ url: testDb.url, pool_max: 8 });
await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, CONFIG_MIGRATIONS, GAMIFICATION_MIGRATIONS]);
const { user } = await createUserRepository(db).upsertFromTelegram({ id: 77_000, first_name: 'Bench' });
const bus = createEventBus(
  {},
  { transport: createMemoryTransport(), events: mergeEvents(GAMIFICATION_EVENTS, CONFIG_EVENTS), db },
);
const config = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: GAMIFICATION_TEMPLATES });
const bot = new Bot('0:bench', { botInfo: FAKE_BOT_INFO });
const deps = { db, bus, config, signer: createCallbackSigner({ callback_secret: 'n'.repeat(40) }), api: () => bot.api };

/** The same table for every round: OLD told notices past the retention, RECENT within it. */
async function fill() {
  await db.sql`truncate gamification_notices`;
  for (const [count, age] of [
    [OLD, '8 days'],
    [RECENT, '1 day'],
  ] as const)
    await db.sql`
      insert into gamification_notices (event_id, user_id, state, text, created_at, updated_at)
      select gen_random_uuid()::text, ${user.id}, case when g % 50 = 0 then 'undeliverable' when g % 1000 = 1 then 'sending' else 'sent' end,
        'Has ganado 2 besitos por tu decisión', now() - ${age}::interval, now() - ${age}::interval - g * interval '1 millisecond'
      from generate_series(1, ${count}) g`;
  await db.sql`vacuum analyze gamification_notices`;
}

/** Queues and tells a notice the way a payment and the notices consumer do (three writes), `RATE`/s until `stop`; each one's ms. */
function writer(stop: AbortSignal): Promise<number[]> {
  const latencies: number[] = [];
  const pending: Promise<unknown>[] = [];
  return new Promise((resolve) => {
    const timer = setInterval(() => {
      if (stop.aborted) {
        clearInterval(timer);
        void Promise.all(pending).then(() => resolve(latencies.sort((a, b) => a - b)));
        return;
      }
      const started = performance.now();
      const id = newId();
      pending.push(
        db.sql`insert into gamification_notices (event_id, user_id, state, text) values (${id}, ${user.id}, 'pending', 'x')`
          .then(
            () => db.sql`update gamification_notices set state = 'sending', updated_at = now() where event_id = ${id}`,
          )
          .then(() => db.sql`update gamification_notices set state = 'sent', updated_at = now() where event_id = ${id}`)
          .then(() => void latencies.push(performance.now() - started)),
      );
    }, 1_000 / RATE);
  });
}

/** The longest a transaction of the removal ran, ms, sampled every 5 ms from pg_stat_activity. */
function longestRemoval(stop: AbortSignal, application_name: string): Promise<number> {
  const watcher = createPostgres({ url: testDb.url, pool_max: 1 });
  let longest = 0;
  return (async () => {
    while (!stop.aborted) {
      const [row] = await watcher.sql<{ ms: number | null }[]>`
        select max(extract(epoch from clock_timestamp() - xact_start) * 1000)::float8 as ms
        from pg_stat_activity where application_name = ${application_name} and state = 'active'
          and query ilike '%delete from gamification_notices%'`;
      longest = Math.max(longest, row?.ms ?? 0);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await watcher.close();
    return longest;
  })();
}

interface Result {
  readonly rows_per_s: number;
  readonly p50: number;
  readonly p99: number;
  readonly longest_ms: number;
}

async function round(name: 'ours' | 'peer'): Promise<Result> {
  await fill();
  const application_name = `bench-retention-${name}`;
  const remover = createPostgres({ url: testDb.url, pool_max: 2, application_name });
  const stop = new AbortController();
  const written = writer(stop.signal);
  const longest = longestRemoval(stop.signal, application_name);
  const started = performance.now();
  if (name === 'ours') {
    // done when the rounds' debug lines have counted every old row (no query of ours meanwhile)
    const { destination, lines } = captureLogLines();
    const removed = () =>
      lines.reduce(
        (sum, line) => sum + (line.msg === 'payment notices past their retention removed' ? Number(line.removed) : 0),
        0,
      );
    const module = createGamificationModule(
      { notice_retention_ms: WEEK_MS, notice_prune_interval_ms: 1 },
      { ...deps, db: remover, logger: createLogger({ level: 'debug', destination }) },
    );
    await module.start();
    while (removed() < OLD) await new Promise((resolve) => setTimeout(resolve, 2));
    await module.close();
  } else {
    await remover.sql`
      delete from gamification_notices
      where state in ('sending', 'sent', 'undeliverable') and updated_at < now() - ${WEEK_MS}::int8 * interval '1 millisecond'`;
  }
  const seconds = (performance.now() - started) / 1000;
  stop.abort();
  const latencies = await written;
  const result = {
    rows_per_s: OLD / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    longest_ms: await longest,
  };
  await remover.close();
  const [kept] = await db.sql<{ n: number }[]>`select count(*)::int as n from gamification_notices`;
  if ((kept?.n ?? 0) < RECENT) throw new Error(`${name} removed notices within the retention`);
  return result;
}

try {
  out(
    `Removing ${OLD.toLocaleString('en-US')} told notices past a 7-day retention (${RECENT.toLocaleString('en-US')} recent ones stay) while ${RATE} notices/s are told`,
  );
  const results: Record<'ours' | 'peer', Result[]> = { ours: [], peer: [] };
  for (let i = 0; i < ROUNDS; i++)
    for (const name of i % 2 === 0 ? (['ours', 'peer'] as const) : (['peer', 'ours'] as const))
      results[name].push(await round(name));
  const mid = (list: Result[], key: keyof Result) =>
    [...list.map((r) => r[key])].sort((a, b) => a - b)[list.length >> 1] ?? 0;
  for (const [name, label] of [
    ['ours', "ours: the module's loop, batches of 1 000"],
    ['peer', 'peer: one DELETE (a cron job)'],
  ] as const) {
    const list = results[name];
    out(
      `  ${label.padEnd(42)} ${mid(list, 'rows_per_s').toFixed(0).padStart(7)} rows/s  writer p50 ${mid(list, 'p50').toFixed(1)} ms  p99 ${mid(list, 'p99').toFixed(1)} ms  longest removal transaction ${mid(list, 'longest_ms').toFixed(0)} ms`,
    );
    out(`    rounds: ${list.map((r) => `${r.rows_per_s.toFixed(0)} rows/s, p99 ${r.p99.toFixed(1)} ms`).join('; ')}`);
  }
  const ratio = (key: keyof Result) => mid(results.ours, key) / mid(results.peer, key);
  out(
    `  ratio ours/peer: rows/s ×${ratio('rows_per_s').toFixed(2)}, writer p99 ×${ratio('p99').toFixed(2)}, longest transaction ×${ratio('longest_ms').toFixed(3)}`,
  );
  out(`  peak RSS ${getPeakRssMb().toFixed(0)} MB`);
} finally {
  await bus.close();
  await db.close();
  await testDb.drop();
}
