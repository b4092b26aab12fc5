// kill -9 of the consuming process during a burst of awards: after a restart every event is
// paid exactly once and the ledger invariants hold.

import { fileURLToPath } from 'node:url';
import { CONFIG_MIGRATIONS } from '@diana/config';
import { createPostgres, createUserRepository, DB_MIGRATIONS, migrate } from '@diana/db';
import { createEventBus, defineEvents, EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector } from '@diana/redis';
import { startWorker, useTestDatabase, useTestRedis } from '@diana/test-services';
import * as v from 'valibot';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { checkLedgerInvariants } from '../src/ledger.js';
import { GAMIFICATION_MIGRATIONS } from '../src/migrations.js';

const testDb = await useTestDatabase('gamification-crash');
const redis = await useTestRedis('gamification-crash');
const redisPort = Number(new URL(redis.url).port);
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 5 });
const transport = createRedisStreamsTransport(
  { prefix: redis.prefix },
  { connector: createRedisConnector({ options: { port: redisPort } }) },
);
const bus = createEventBus(
  {},
  {
    transport,
    events: defineEvents({ 'narrative.decision_made': v.object({ user_id: v.string(), reward: v.number() }) }),
    db,
  },
);
const script = fileURLToPath(new URL('./fixtures/award-worker.ts', import.meta.url));
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, CONFIG_MIGRATIONS, GAMIFICATION_MIGRATIONS]);
});
afterAll(async () => {
  await bus.close();
  await transport.close();
  await db.close();
});
const paid = async () => {
  const [row] = await db.sql<
    { n: number }[]
  >`select count(*)::int as n from besitos_transactions where source = 'decision'`;
  return row?.n ?? 0;
};

it('kill -9 of the consumer mid-burst: after a restart all 300 decisions are paid exactly once', async () => {
  const users = createUserRepository(db);
  const ids: string[] = [];
  for (let i = 0; i < 30; i++)
    ids.push((await users.upsertFromTelegram({ id: 8_000 + i, first_name: `U${i}` })).user.id);
  const config = { type: 'config', database_url: testDb.url, redis_port: redisPort, prefix: redis.prefix };
  const first = startWorker(script);
  first.send(config);
  await first.waitFor('consuming');
  // the burst is published while the consumer works, and the kill comes once 60 are paid, whatever
  // the machine's speed (published first, a fast consumer could have paid all 300 before the kill)
  const publishing = (async () => {
    for (let i = 0; i < 300; i++)
      await bus.publish('narrative.decision_made', { user_id: ids[i % 30] as string, reward: 3 });
  })();
  const deadline = Date.now() + 30_000;
  while ((await paid()) < 60 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  await first.kill('SIGKILL');
  const atKill = await paid();
  await publishing;
  expect(atKill).toBeGreaterThan(0);
  expect(atKill).toBeLessThan(300); // the fault happened mid-burst

  const second = startWorker(script);
  second.send(config);
  await second.waitFor('consuming');
  const end = Date.now() + 60_000;
  while ((await paid()) < 300 && Date.now() < end) await new Promise((resolve) => setTimeout(resolve, 50));
  await new Promise((resolve) => setTimeout(resolve, 1_500)); // past claim_idle_ms: anything left would be re-claimed now
  expect(await paid()).toBe(300);
  const [distinct] = await db.sql<{ n: number }[]>`
    select count(distinct source_event_id)::int as n from besitos_transactions where source = 'decision'`;
  expect(distinct?.n).toBe(300);
  expect(await checkLedgerInvariants(db)).toEqual({ ok: true, problems: [] });
  await second.kill('SIGKILL');
}, 120_000);
