// pnpm bench:config — ConfigManager.get (a map lookup, from memory) and the time from publish()
// in this process to the change being visible in a second process (PostgreSQL outbox → relay →
// Redis Streams broadcast → resolve in the other process).

import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { CONFIG_EVENTS, CONFIG_MIGRATIONS, createConfigManager } from '@diana/config';
import { createPostgres, DB_MIGRATIONS, migrate } from '@diana/db';
import { createEventBus, createOutboxRelay, EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector } from '@diana/redis';
import { createTestDatabase, deleteByPrefix, getRedisUrl, startWorker } from '@diana/test-services';
import { BENCH_TEMPLATES } from './config-templates.js';
import { getPeakRssMb, median, percentile, printGoal, scaled } from './harness.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
const url = await getRedisUrl();
const redisPort = Number(new URL(url).port);
const prefix = `bench:config:${randomBytes(3).toString('hex')}:`;
const testDb = await createTestDatabase('bench-config');
const db = createPostgres({ url: testDb.url, pool_max: 5 });
await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, CONFIG_MIGRATIONS]);
const transport = createRedisStreamsTransport(
  { prefix },
  { connector: createRedisConnector({ options: { port: redisPort } }) },
);
const bus = createEventBus({ block_ms: 100 }, { transport, events: CONFIG_EVENTS });
const relay = createOutboxRelay({ outbox_poll_ms: 100 }, { db, transport });
const config = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: BENCH_TEMPLATES });
await config.start();
const worker = startWorker(fileURLToPath(new URL('./config-worker.ts', import.meta.url)));
try {
  // get: 5 rounds of 10 M lookups (1 M in short mode)
  const LOOKUPS = scaled(10_000_000);
  const rounds: number[] = [];
  let sink = 0;
  for (let round = 0; round < 6; round++) {
    const started = performance.now();
    for (let i = 0; i < LOOKUPS; i++)
      sink += config.get('bench.reward', { scope: i & 1 ? 'global' : 'channel:1' }).amount;
    if (round > 0) rounds.push(LOOKUPS / ((performance.now() - started) / 1_000)); // round 0 warms up
  }
  const getOps = median(rounds);
  out(`ConfigManager.get (scoped miss → global → defaults), 5 rounds of ${LOOKUPS.toLocaleString('en-US')}`);
  out(
    `  ${Math.round(getOps).toLocaleString('en-US')} ops/s (${Math.round(Math.min(...rounds)).toLocaleString('en-US')}–${Math.round(Math.max(...rounds)).toLocaleString('en-US')})${sink < 0 ? '' : ''}`,
  );

  worker.send({ type: 'config', database_url: testDb.url, redis_port: redisPort, prefix });
  await worker.waitFor('ready');
  const latencies: number[] = [];
  for (let amount = 1; amount <= 200; amount++) {
    const started = performance.now();
    const draft = await config.createDraft('bench.reward', { amount }, { actor: 'bench', reason: 'bench' });
    await config.publish(draft.id, { actor: 'bench', reason: 'bench' });
    await worker.waitFor(`changed:${amount}`, 10_000);
    latencies.push(performance.now() - started);
  }
  latencies.sort((a, b) => a - b);
  const p50 = percentile(latencies, 0.5);
  const p99 = percentile(latencies, 0.99);
  out('\npublish here → visible in another process, 200 publishes one after another');
  out(`  p50 ${p50.toFixed(1)} ms  p99 ${p99.toFixed(1)} ms  max ${(latencies.at(-1) ?? 0).toFixed(1)} ms`);
  out('');
  printGoal('get ≥ 5 M ops/s', getOps >= 5_000_000);
  printGoal('publish → visible in another process: p99 < 1 s (goal < 250 ms)', p99 < 250);
  out(`\npeak RSS ${getPeakRssMb().toFixed(0)} MB`);
} finally {
  worker.send({ type: 'stop' });
  await worker.exited();
  await config.close();
  await relay.close();
  await bus.close();
  await transport.close();
  await db.close();
  await testDb.drop();
  await deleteByPrefix(url, prefix);
}
