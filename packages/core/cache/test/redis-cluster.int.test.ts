import { createRedisConnector, isCluster } from '@diana/redis';
import { keysPerMaster as countPerMaster, useTestRedisCluster } from '@diana/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import type { CacheService } from '../src/cache.js';
import { describeCache } from '../src/testing.js';
import { createClusterCache } from './fixtures/redis-cluster-cache.js';

// The same suite as on one server, on a Redis Cluster of 3 masters + 3 replicas.
const redis = await useTestRedisCluster('cache');
const caches: CacheService[] = [];
const probe = createRedisConnector({ cluster: { nodes: redis.nodes } });
const client = probe.command();
afterAll(async () => {
  await Promise.all(caches.map((cache) => cache.close()));
  await probe.close();
});
const make = (prefix: string) => {
  const cache = createClusterCache({ key_prefix: `${redis.prefix}${prefix}` }, redis.nodes);
  caches.push(cache);
  return cache;
};
const until = async (check: () => Promise<boolean> | boolean, ms: number) => {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return true;
};
/** How many keys under `prefix` each master holds. */
const keysPerMaster = (prefix: string) => countPerMaster(client, prefix);

let suite = 0;
describeCache('two tiers on a Redis Cluster', (config, deps) =>
  createClusterCache({ ...config, key_prefix: `${redis.prefix}suite${suite++}:` }, redis.nodes, deps),
);

describe('two tiers on a Redis Cluster', () => {
  it('runs on a Cluster client whose keys spread over several masters', async () => {
    expect(isCluster(client)).toBe(true);
    await until(() => client.status === 'ready', 5_000);
    const cache = make('spread:');
    for (let i = 0; i < 30; i++) await cache.set(`k${i}`, i, { tags: [`t${i % 3}`] });
    const counts = await keysPerMaster(`${redis.prefix}spread:v:`);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(30);
    expect(counts.filter((n) => n > 0).length).toBeGreaterThan(1);
  });

  it('invalidates by tag across slots and drops another process copy', async () => {
    const a = make('tags:');
    const b = make('tags:');
    for (let i = 0; i < 10; i++) await a.set(`balance:${i}`, i, { tags: ['user:1'] });
    await a.set('other', 'kept', { tags: ['user:2'] });
    expect(await b.get('balance:3')).toBe(3);
    await a.deleteByTag('user:1');
    // the notice must arrive (allowed 2 s: how fast is a benchmark's question, and a busy machine is slow)
    expect(await until(async () => (await b.get('balance:3')) === undefined, 2_000)).toBe(true);
    for (let i = 0; i < 10; i++) expect(await b.get(`balance:${i}`)).toBeUndefined();
    expect(await b.get('other')).toBe('kept');
  });

  it('clear scans every master and removes only its namespace', async () => {
    const cache = make('clear:');
    const other = make('keep:');
    for (let i = 0; i < 40; i++) await cache.set(`k${i}`, i);
    await other.set('k', 'kept');
    const before = await keysPerMaster(`${redis.prefix}clear:v:`);
    expect(before.filter((n) => n > 0).length).toBeGreaterThan(1);
    await cache.clear();
    expect(await keysPerMaster(`${redis.prefix}clear:v:`)).toEqual(before.map(() => 0));
    expect(await other.get('k')).toBe('kept');
  });
});
