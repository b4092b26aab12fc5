// A Redis Cluster master dies under the limiter: its keys are decided by the insurance limiter
// until the replica is promoted, then by Redis again; nothing throws.
import { createRedisConnector } from '@diana/redis';
import { startRedisCluster } from '@diana/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisRateLimitStore } from '../src/adapters/redis.js';
import { createRateLimiter } from '../src/rate-limit.js';

const cluster = await startRedisCluster();
const connector = createRedisConnector({ cluster: { nodes: cluster.nodes } });
const config = { rate_limit_timeout_ms: 200, rate_limit_prefix: 'rl:' };
const limiter = createRateLimiter(config, {
  store: createRedisRateLimitStore(config, { connector }),
  getPolicy: () => ({ limit: 5, window_ms: 60_000 }),
});
afterAll(async () => {
  await limiter.close();
  await connector.close({ timeout_ms: 200 });
  await cluster.stop();
});

describe('the rate limiter when a cluster master dies', () => {
  it('limits through the insurance limiter during the failover, and Redis decides again after it', async () => {
    // before the fault, Redis decides. On a busy machine the first calls, which open the node
    // connections, can pass the 200 ms deadline (the insurance then decides, by design): poll
    await connector.ready({ timeout_ms: 5_000 });
    let before = await limiter.consume(1, 'purchase');
    const warm = Date.now() + 10_000;
    while (before.degraded && Date.now() < warm) before = await limiter.consume(1, 'purchase');
    expect(before).toMatchObject({ allowed: true, degraded: false });
    const client = connector.command();
    const ready = Date.now() + 5_000;
    while (client.status !== 'ready' && Date.now() < ready) await new Promise((r) => setTimeout(r, 20));
    const slot = Number(await client.call('CLUSTER', 'KEYSLOT', 'rl:purchase:2'));
    const owner = await cluster.masterOf(slot);
    // the fault, without waiting for the promotion: consume while the slot has no master
    const failover = cluster.failover(owner.port, { mode: 'kill' });
    const deadline = Date.now() + 5_000;
    let first = await limiter.consume(2, 'purchase');
    while (!first.degraded && Date.now() < deadline) first = await limiter.consume(2, 'purchase');
    expect(first.degraded).toBe(true); // the dead master was noticed
    const during = [first];
    for (let i = 0; i < 7; i++) during.push(await limiter.consume(2, 'purchase'));
    expect(during.filter((r) => r.degraded).length).toBeGreaterThan(0);
    const result = await failover;
    expect(result.new_master.port).not.toBe(owner.port);

    const until = Date.now() + 15_000;
    let after = await limiter.consume(3, 'purchase');
    while (after.degraded && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await limiter.consume(3, 'purchase');
    }
    expect(after.degraded).toBe(false);
    // user 2's key is decided on the promoted replica again
    let two = await limiter.consume(2, 'purchase');
    while (two.degraded && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      two = await limiter.consume(2, 'purchase');
    }
    expect(two.degraded).toBe(false);
  }, 60_000);
});
