// Hot reload across two processes whose event bus runs on a Redis Cluster (3 masters + 3 replicas).

import { fileURLToPath } from 'node:url';
import { createPostgres, DB_MIGRATIONS, migrate } from '@diana/db';
import { createEventBus, createOutboxRelay, EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector, isCluster } from '@diana/redis';
import { startWorker, useTestDatabase, useTestRedisCluster } from '@diana/test-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_EVENTS } from '../src/events.js';
import { createConfigManager } from '../src/manager.js';
import { CONFIG_MIGRATIONS } from '../src/migrations.js';
import { TEMPLATES } from './fixtures/templates.js';

const testDb = await useTestDatabase('config-cluster');
const redis = await useTestRedisCluster('config-cluster');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 5 });
const connector = createRedisConnector({ cluster: { nodes: redis.nodes } });
const transport = createRedisStreamsTransport({ prefix: redis.prefix }, { connector });
const bus = createEventBus({ block_ms: 100 }, { transport, events: CONFIG_EVENTS });
const relay = createOutboxRelay({ outbox_poll_ms: 50 }, { db, transport });
const config = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: TEMPLATES });
const admin = { actor: 'admin:1', reason: 'test' };
const script = fileURLToPath(new URL('./fixtures/config-worker.ts', import.meta.url));
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, CONFIG_MIGRATIONS]);
  await config.start();
});
afterAll(async () => {
  await config.close();
  await relay.close();
  await bus.close();
  await transport.close();
  await connector.close();
  await db.close();
});

describe('hot reload across processes on a Redis Cluster', () => {
  it("a publish here becomes visible in the other process's get (10 publishes in a row)", async () => {
    expect(isCluster(connector.command())).toBe(true);
    const scope = 'channel:-200200';
    const worker = startWorker(script);
    worker.send({
      type: 'config',
      database_url: testDb.url,
      redis_cluster_nodes: redis.nodes,
      prefix: redis.prefix,
      scope,
    });
    await worker.waitFor('ready');
    for (let amount = 1; amount <= 10; amount++) {
      const draft = await config.createDraft('gamification.daily_gift', { amount }, { ...admin, scope });
      await config.publish(draft.id, admin);
      const seen = await worker.waitFor(`changed:${amount}`, 15_000);
      expect(seen.type).toBe(`changed:${amount}`);
    }
    worker.send({ type: 'stop' });
    await worker.exited();
  }, 120_000);
});
