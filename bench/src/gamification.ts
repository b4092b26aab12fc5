// pnpm bench:gamification — awards through the event path on real PostgreSQL + Redis:
// publish narrative.decision_made → Redis Streams → the gamification handler (inbox, ledger,
// mission and achievement counters, outbox) → commit. Awards/s and publish → commit latency.

import { randomBytes } from 'node:crypto';
import { CONFIG_EVENTS, CONFIG_MIGRATIONS, createConfigManager } from '@diana/config';
import { createPostgres, createUserRepository, DB_MIGRATIONS, migrate } from '@diana/db';
import { createEventBus, defineEvents, EVENT_BUS_MIGRATIONS, mergeEvents } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import {
  checkLedgerInvariants,
  createGamificationModule,
  GAMIFICATION_EVENTS,
  GAMIFICATION_MIGRATIONS,
  GAMIFICATION_TEMPLATES,
} from '@diana/gamification';
import { createRedisConnector } from '@diana/redis';
import { createCallbackSigner } from '@diana/security';
import { createTestDatabase, deleteByPrefix, getRedisUrl } from '@diana/test-services';
import * as v from 'valibot';
import { getPeakRssMb, openLoop, percentile, printGoal, scaled } from './harness.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const redisUrl = await getRedisUrl();
const prefix = `bench:gam:${randomBytes(3).toString('hex')}:`;
const testDb = await createTestDatabase('bench-gamification');
const db = createPostgres({ url: testDb.url, pool_max: 16 });
await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, CONFIG_MIGRATIONS, GAMIFICATION_MIGRATIONS]);
const transport = createRedisStreamsTransport(
  { prefix },
  { connector: createRedisConnector({ options: { port: Number(new URL(redisUrl).port) } }) },
);
const events = mergeEvents(
  mergeEvents(GAMIFICATION_EVENTS, CONFIG_EVENTS),
  defineEvents({ 'narrative.decision_made': v.object({ user_id: v.string(), reward: v.number() }) }),
);
const bus = createEventBus({ block_ms: 100, concurrency: 16 }, { transport, events });
const config = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: GAMIFICATION_TEMPLATES });
await config.start();
const gamification = createGamificationModule(
  {},
  { db, bus, config, signer: createCallbackSigner({ callback_secret: 'b'.repeat(40) }) },
);
const users = createUserRepository(db);
const ids: string[] = [];
for (let i = 0; i < 500; i++)
  ids.push((await users.upsertFromTelegram({ id: 50_000 + i, first_name: `U${i}` })).user.id);

const published = new Map<string, number>();
const latencies: number[] = [];
let done = 0;
let resolveAll: () => void = () => {};
let expected = 0;
const handler = gamification.subscriptions.find((s) => s.types.includes('narrative.decision_made'))?.handler;
bus.subscribe('gamification', 'narrative.decision_made', async (event) => {
  await handler?.(event); // commits the inbox transaction with the award
  const t0 = published.get(event.id);
  if (t0 !== undefined) latencies.push(performance.now() - t0);
  if (++done === expected) resolveAll();
});

/** Open loop: `rate` events/s for `seconds`, each published on schedule. */
async function steady(rate: number, seconds: number) {
  done = 0;
  latencies.length = 0;
  expected = rate * seconds;
  const all = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });
  await openLoop(rate, expected, (i) => {
    const t0 = performance.now();
    return bus
      .publish('narrative.decision_made', { user_id: ids[i % ids.length] as string, reward: 1 })
      .then((event) => void published.set(event.id, t0));
  });
  await all;
  latencies.sort((a, b) => a - b);
  return { rate, p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99) };
}

async function burst(count: number) {
  done = 0;
  latencies.length = 0;
  expected = count;
  const all = new Promise<void>((resolve) => {
    resolveAll = resolve;
  });
  const started = performance.now();
  const cpu = process.cpuUsage();
  const [before] = await db.sql<
    { n: string }[]
  >`select xact_commit::text as n from pg_stat_database where datname = current_database()`;
  for (let i = 0; i < count; i++) {
    const t0 = performance.now();
    const event = await bus.publish('narrative.decision_made', { user_id: ids[i % ids.length] as string, reward: 1 });
    published.set(event.id, t0);
  }
  await all;
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const [after] = await db.sql<
    { n: string }[]
  >`select xact_commit::text as n from pg_stat_database where datname = current_database()`;
  latencies.sort((a, b) => a - b);
  return {
    rate: count / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    cpu: (used.user + used.system) / 1e6 / seconds,
    commits: (Number(after?.n) - Number(before?.n)) / count,
  };
}

try {
  await burst(500); // warm-up
  const runs = [];
  for (let round = 0; round < 3; round++) runs.push(await burst(scaled(3_000)));
  const rates = runs.map((r) => r.rate).sort((a, b) => a - b);
  const median = runs.find((r) => r.rate === rates[1]) ?? runs[0];
  out('Awards through the event path: publish → Redis Streams → handler (inbox + ledger + counters + outbox) → commit');
  out(`  3 rounds of ${scaled(3_000).toLocaleString('en-US')} events over 500 users, consumer concurrency 16, pool 16`);
  for (const r of runs)
    out(
      `  ${r.rate.toFixed(0).padStart(5)} awards/s  publish → commit p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  node CPU ${(r.cpu * 100).toFixed(0)}%  PostgreSQL commits per award ${r.commits.toFixed(1)}`,
    );
  out('\nSteady load (open loop), publish → commit:');
  const steadyRuns = [];
  for (const rate of [100, 300]) {
    const r = await steady(rate, scaled(10, 3));
    steadyRuns.push(r);
    out(`  ${String(rate).padStart(4)} awards/s offered  p50 ${r.p50.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms`);
  }
  const invariants = await checkLedgerInvariants(db);
  out(`  ledger invariants: ${invariants.ok ? 'hold' : invariants.problems.join('; ')}`);
  out('');
  out(`  burst throughput (median of 3): ${median?.rate.toFixed(0)} awards/s`);
  printGoal(
    `at 100 awards/s, publish → commit p99 < 100 ms (the owners' delivery target; measured ${steadyRuns[0]?.p99.toFixed(1)} ms)`,
    (steadyRuns[0]?.p99 ?? Number.POSITIVE_INFINITY) < 100,
  );
  out(`\npeak RSS ${getPeakRssMb().toFixed(0)} MB`);
} finally {
  await bus.close();
  await config.close();
  await transport.close();
  await db.close();
  await testDb.drop();
  await deleteByPrefix(redisUrl, prefix);
}
