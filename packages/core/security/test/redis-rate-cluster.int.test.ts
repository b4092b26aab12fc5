import { createRedisConnector, isCluster, mastersOf } from '@diana/redis';
import { useTestRedisCluster } from '@diana/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisRateLimitStore, type RedisRateLimitStore } from '../src/adapters/redis.js';
import { createRateLimiter, type RateLimiter } from '../src/rate-limit.js';
import { describeRateLimitStore } from '../src/testing.js';

// The rate-limit store suite on a Redis Cluster (3 masters + 3 replicas): each key is the one
// key of the GCRA script, so keys spread over the masters.
const redis = await useTestRedisCluster('security');
const connector = createRedisConnector({ cluster: { nodes: redis.nodes } });
const opened: Array<RedisRateLimitStore | RateLimiter> = [];
afterAll(async () => {
  await Promise.all(opened.map((o) => o.close()));
  await connector.close();
});

describeRateLimitStore('redis on a Redis Cluster', () => {
  const store = createRedisRateLimitStore(
    { rate_limit_prefix: redis.prefix, rate_limit_timeout_ms: 30_000 },
    { connector },
  );
  opened.push(store);
  return { store, advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
});

describe('createRateLimiter on a Redis Cluster', () => {
  it('shares one budget between limiters, decides on the cluster, and spreads users over the masters', async () => {
    // a generous deadline: this case is about the shared budget, not the 250 ms default (on a busy
    // machine a first call that opens a node's connection took longer, and the insurance decided)
    const config = { rate_limit_prefix: `${redis.prefix}shared:`, rate_limit_timeout_ms: 30_000 };
    const getPolicy = () => ({ limit: 10, window_ms: 60_000 });
    const a = createRateLimiter(config, { store: createRedisRateLimitStore(config, { connector }), getPolicy });
    const b = createRateLimiter(config, { store: createRedisRateLimitStore(config, { connector }), getPolicy });
    opened.push(a, b);
    expect(a.backend).toBe('redis');
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).consume(42, 'purchase')));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect(results.every((r) => !r.degraded)).toBe(true);

    for (let user = 1; user <= 20; user++) expect((await a.consume(user, 'purchase')).allowed).toBe(true);
    const client = connector.command();
    expect(isCluster(client)).toBe(true);
    const deadline = Date.now() + 5_000;
    while (client.status !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const perMaster: number[] = [];
    for (const node of mastersOf(client)) {
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${redis.prefix}shared:*`, 'COUNT', 500);
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
      perMaster.push(n);
    }
    expect(perMaster.reduce((x, y) => x + y, 0)).toBeGreaterThanOrEqual(21);
    expect(perMaster.filter((n) => n > 0).length).toBeGreaterThan(1);
  });
});
