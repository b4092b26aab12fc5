import { createPostgres, DB_MIGRATIONS, migrate } from '@diana/db';
import { EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { createRedisConnector, isCluster } from '@diana/redis';
import { advanceRedisTtls, keysPerMaster, useTestDatabase, useTestRedisCluster } from '@diana/test-services';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisSliceStore } from '../src/adapters/redis.js';
import { createUserStateManager, type UserStateManager } from '../src/manager.js';
import { USER_STATE_MIGRATIONS } from '../src/migrations.js';
import { defineSlice, type SliceDefinition } from '../src/slice.js';
import { describeSliceStore, describeUserStateManager } from '../src/testing.js';
import { redisClusterStore } from './fixtures/redis-cluster-store.js';

// The slice store and manager suites on a Redis Cluster (3 masters + 3 replicas): one user's
// keys share the hash tag {u:<id>}, so the compare-and-set script and MGET of a user's slices
// name one slot; different users spread over the masters.
const testDb = await useTestDatabase('user-state-cluster');
const redis = await useTestRedisCluster('user-state');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 10 });
const managers: UserStateManager<readonly SliceDefinition[]>[] = [];
const connections: Array<{ close(): Promise<void> }> = [];
const probe = createRedisConnector({ cluster: { nodes: redis.nodes } });
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, USER_STATE_MIGRATIONS]);
});
afterAll(async () => {
  await Promise.all([...managers, ...connections].map((m) => m.close()));
  await probe.close();
  await db.close();
});
// Time passes for a suite's keys only: their TTLs shrink on every master
const redisClock = (prefix: string) => async (ms: number) => {
  await advanceRedisTtls(probe.command(), prefix, ms);
};
let prefixes = 0;

describeSliceStore('redis on a Redis Cluster', async () => {
  const prefix = `${redis.prefix}store${prefixes++}:`;
  const connection = await redisClusterStore({ key_prefix: prefix }, redis.nodes);
  connections.push(connection);
  return { store: createRedisSliceStore(connection), advance: redisClock(prefix) };
});

describeUserStateManager('PostgreSQL + Redis Cluster', async () => {
  const prefix = `${redis.prefix}suite${prefixes++}:`;
  // one connected store for the managers of a test (what the suite passes to `create` are the
  // manager's own settings: the store reads none of them)
  const store = await redisClusterStore({ key_prefix: prefix }, redis.nodes);
  return {
    create: (slices, config = {}) => {
      const settings = { key_prefix: prefix, ...config };
      const manager = createUserStateManager(settings, { db, store, slices });
      managers.push(manager as never);
      return manager;
    },
    advance: redisClock(prefix),
  };
});

describe('user state on a Redis Cluster', () => {
  it('runs on a Cluster client, and users spread over the masters', async () => {
    const client = probe.command();
    expect(isCluster(client)).toBe(true);
    const prefix = `${redis.prefix}spread:`;
    // the spread is what is asserted, not speed: a busy CI machine once took over the default 1 s
    // for a command to a master of the shared cluster (the fixture allows 10 s)
    const settings = { key_prefix: prefix };
    const manager = createUserStateManager(settings, {
      db,
      store: await redisClusterStore(settings, redis.nodes),
      slices: [
        defineSlice('wizard', {
          schema: v.object({ n: v.number() }),
          initial: { n: 0 },
          persist: false,
          ttl_ms: 60_000,
        }),
      ],
    });
    managers.push(manager as never);
    for (let user = 1; user <= 20; user++) {
      await manager.update(String(user), 'wizard', (s) => ({ n: s.n + user }));
      expect(await manager.get(String(user), 'wizard')).toEqual({ n: user });
    }
    const perMaster = await keysPerMaster(client, prefix);
    expect(perMaster.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(20);
    expect(perMaster.filter((n) => n > 0).length).toBeGreaterThan(1);
  });
});
