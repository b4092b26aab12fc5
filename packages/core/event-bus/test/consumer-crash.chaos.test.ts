import { fileURLToPath } from 'node:url';
import { createPostgres, DB_MIGRATIONS, migrate } from '@diana/db';
import { createRedisConnector } from '@diana/redis';
import { startWorker, useTestDatabase, useTestRedis } from '@diana/test-services';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus, type EventBusService } from '../src/bus.js';
import { createInbox } from '../src/inbox.js';
import { EVENT_BUS_MIGRATIONS } from '../src/relay.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/testing.js';

const testDb = await useTestDatabase('consumer-crash');
const redis = await useTestRedis('consumer-crash');
const port = Number(new URL(redis.url).port);
const prefix = `${redis.prefix}cc:`;
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
afterAll(() => db.close());

it('kill -9 of a consumer holding ≥ 100 pending entries: survivors handle every event, effects once each', async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS]);
  await db.sql`create table chaos_effects (event_id uuid not null)`;
  const transport = createRedisStreamsTransport({ prefix }, { connector: createRedisConnector({ options: { port } }) });
  const publisher = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS });
  await transport.ensureGroup('test.happened', 'effects');

  const worker = startWorker(fileURLToPath(new URL('./fixtures/hanging-consumer.ts', import.meta.url)));
  worker.send({ type: 'config', db_url: testDb.url, redis_port: port, prefix });
  await worker.waitFor('ready');
  const total = 300;
  for (let n = 0; n < total; n++) await publisher.publish('test.happened', { n });
  await worker.waitFor('holding', 20_000);

  // precondition: the doomed consumer really holds ≥ 100 pending entries
  const client = new Redis(redis.url);
  const pending = (await client.xpending(`${prefix}{test.happened}`, 'effects', '-', '+', 1000, 'doomed')) as unknown[];
  expect(pending.length).toBeGreaterThanOrEqual(100);
  await worker.kill('SIGKILL');

  const inbox = createInbox(db);
  const survivors: EventBusService<typeof CONFORMANCE_EVENTS>[] = [];
  for (const name of ['survivor-1', 'survivor-2']) {
    const bus = createEventBus(
      { ...CONFORMANCE_CONFIG, claim_idle_ms: 500 },
      {
        transport: createRedisStreamsTransport({ prefix }, { connector: createRedisConnector({ options: { port } }) }),
        events: CONFORMANCE_EVENTS,
        consumer_name: name,
      },
    );
    bus.subscribe('effects', 'test.happened', async (event) => {
      await inbox.process('effects', event, (tx) => tx`insert into chaos_effects values (${event.id})`);
    });
    survivors.push(bus);
  }
  const deadline = Date.now() + 30_000;
  let stats = await transport.groupStats('test.happened');
  while (!(stats[0]?.pending === 0 && stats[0]?.lag === 0) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    stats = await transport.groupStats('test.happened');
  }
  expect(stats[0]).toMatchObject({ pending: 0, lag: 0 });
  const [effects] = await db.sql<{ n: number; unique: number }[]>`
    select count(*)::int as n, count(distinct event_id)::int as unique from chaos_effects`;
  expect(effects).toEqual({ n: total, unique: total });
  client.disconnect();
  await Promise.all(survivors.map((bus) => bus.close({ timeout_ms: 500 })));
  await publisher.close();
  await transport.close();
}, 60_000);
