// The cluster limit the README used to state: ioredis holds the invalidation subscription on a
// connection of its own to one node, and when that node dies it moves the subscription to
// another node with no event on the cluster client. Here the node holding it is SIGKILLed (a
// master, failed over to its replica); the cache must count itself deaf, listen again, and drop
// the memory copies it kept (a notice sent meanwhile was lost to it).
import { createRedisConnector } from '@diana/redis';
import { startRedisCluster } from '@diana/test-services';
import { afterAll, expect, it, vi } from 'vitest';
import { createRedisCacheStore } from '../src/adapters/redis.js';
import { createCache } from '../src/cache.js';
import { untilListening } from '../src/testing.js';
import { findSubscriptions } from './fixtures/cluster-subscription.js';

const cluster = await startRedisCluster();
const name = `gapkill${process.pid}`;
const subscriptions = findSubscriptions(cluster.nodes, name);
afterAll(async () => {
  subscriptions.close();
  await cluster.stop();
});

it('the node holding the subscription dies: the cache listens again and drops the copies it kept', async () => {
  const config = { key_prefix: 'gap:' };
  const connector = createRedisConnector({ cluster: { nodes: cluster.nodes }, options: { connectionName: name } });
  const b = createCache(config, { store: createRedisCacheStore(config, { connector }) });
  const writerConnector = createRedisConnector({ cluster: { nodes: cluster.nodes } });
  const a = createCache(config, { store: createRedisCacheStore(config, { connector: writerConnector }) });
  const raw = writerConnector.command();
  /** The one connection holding B's subscription (fails the wait while it is moving). */
  const holder = async () => {
    const found = await subscriptions.find();
    expect(found).toHaveLength(1);
    return found[0] as { node: number; id: string };
  };
  try {
    await untilListening(b);
    await writerConnector.ready({ timeout_ms: 10_000 });
    // ioredis picks the node at random: move the subscription until it sits on a master
    const masters = new Set((await cluster.masters()).map((m) => m.port));
    let at = await vi.waitFor(holder, { timeout: 5_000 });
    for (let moves = 0; !masters.has(cluster.nodes[at.node]?.port ?? -1) && moves < 50; moves++) {
      const from = at;
      await subscriptions.kill(from);
      at = await vi.waitFor(
        async () => {
          const now = await holder();
          expect(now).not.toEqual(from); // the node and its id: ids are per node
          return now;
        },
        { timeout: 5_000, interval: 20 },
      );
      await untilListening(b);
    }
    const port = cluster.nodes[at.node]?.port as number;
    expect(masters.has(port)).toBe(true);

    await a.set('k', 'old', { ttl_ms: 600_000 });
    await a.set('k2', 'new', { ttl_ms: 600_000 });
    expect(await b.get('k')).toBe('old');
    expect(await b.get('k')).toBe('old'); // from B's memory
    // a change whose notice B never hears: k2's entry copied onto k in Redis, no notice
    await raw.set('gap:v:{k}', (await raw.get('gap:v:{k2}')) as string, 'PX', 600_000);
    expect(await b.get('k')).toBe('old');

    // the fault: the master holding B's subscription is killed and its replica promoted
    const failover = await cluster.failover(port, { mode: 'kill' });
    expect(failover.old_master.port).toBe(port);
    // the kept copy dropped
    await vi.waitFor(async () => expect(await b.get('k')).toBe('new'), { timeout: 15_000, interval: 20 });
    await untilListening(b, 15_000);
    const after = await vi.waitFor(holder, { timeout: 5_000 });
    expect(cluster.nodes[after.node]?.port).not.toBe(port);
    // and it hears notices again
    await a.set('k', 'newer');
    await vi.waitFor(async () => expect(await b.get('k')).toBe('newer'), { timeout: 5_000, interval: 20 });
  } finally {
    await Promise.all([a.close(), b.close()]);
    await Promise.all([connector.close(), writerConnector.close()]);
  }
}, 120_000);
