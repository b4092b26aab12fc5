import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { startWorker, useTestRedis } from '@diana/test-services';
import { isDianaError } from '@diana/utils';
import { Redis } from 'ioredis';
import * as v from 'valibot';
import { afterAll, describe, expect, it } from 'vitest';
import type { CacheService } from '../src/cache.js';
import { describeCache } from '../src/testing.js';
import { createRedisCache } from './fixtures/redis-cache.js';

const redis = await useTestRedis('cache');
const port = Number(new URL(redis.url).port);
const caches: CacheService[] = [];
afterAll(async () => {
  await Promise.all(caches.map((cache) => cache.close()));
});
const make = (prefix: string) => {
  const cache = createRedisCache({ key_prefix: `${redis.prefix}${prefix}` }, port);
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

let suite = 0;
describeCache('two tiers on Redis', (config, deps) =>
  createRedisCache({ ...config, key_prefix: `${redis.prefix}suite${suite++}:` }, port, deps),
);

describe('two tiers on Redis', () => {
  it('serves a second process from Redis, then from its own memory', async () => {
    const a = make('share:');
    const b = make('share:');
    let calls = 0;
    await a.getOrSet('k', async () => ++calls);
    expect(await b.getOrSet('k', async () => ++calls)).toBe(1);
    expect(b.stats().l2_hits).toBe(1);
    expect(await b.get('k')).toBe(1);
    expect(b.stats().l1_hits).toBe(1);
    expect(calls).toBe(1);
  });

  it("drops another process's memory copy within 100 ms on delete, deleteByTag and set", async () => {
    const a = make('inval:');
    const b = make('inval:');
    await a.set('balance:1', 10, { tags: ['user:1'] });
    expect(await b.get('balance:1')).toBe(10);
    expect(await b.get('balance:1')).toBe(10);
    expect(b.stats().l1_hits).toBeGreaterThanOrEqual(1); // B holds it in memory now

    await a.delete('balance:1');
    expect(await until(async () => (await b.get('balance:1')) === undefined, 100)).toBe(true);

    await a.set('balance:1', 20, { tags: ['user:1'] });
    expect(await until(async () => (await b.get('balance:1')) === 20, 100)).toBe(true);
    await a.deleteByTag('user:1');
    expect(await until(async () => (await b.get('balance:1')) === undefined, 100)).toBe(true);
  });

  it('three processes × 100 concurrent getOrSet of one missing key run the factory once', async () => {
    const script = fileURLToPath(new URL('./fixtures/stampede-worker.ts', import.meta.url));
    const workers = [startWorker(script), startWorker(script), startWorker(script)];
    for (const worker of workers)
      worker.send({ type: 'config', redis_port: port, prefix: `${redis.prefix}stampede:`, key: 'hot' });
    await Promise.all(workers.map((worker) => worker.waitFor('ready')));
    for (const worker of workers) worker.send({ type: 'go' });
    const results = await Promise.all(workers.map((worker) => worker.waitFor('result')));
    await Promise.all(workers.map((worker) => worker.exited()));
    // The lease (5 s) outlives the 50 ms factory, so exactly one process computes.
    expect(results.reduce((sum, r) => sum + Number(r.calls), 0)).toBe(1);
    const computedBy = new Set(results.flatMap((r) => r.values as number[]));
    expect(computedBy.size).toBe(1);
  });

  it('stores nothing in Redis for a factory value that fails its schema; another process misses', async () => {
    const a = make('schema:');
    const b = make('schema:');
    const Counter = v.object({ n: v.number() });
    const error = await a
      .getOrSet('counter', () => ({ n: 'not a number' }) as unknown as { n: number }, { schema: Counter })
      .catch((e: unknown) => e);
    expect(isDianaError(error, 'E_CACHE_SCHEMA')).toBe(true);
    const client = new Redis(redis.url);
    const left = await client.keys(`${redis.prefix}schema:*`); // no value, no tag set, no lease left behind
    client.disconnect();
    expect(left).toEqual([]);
    expect(await b.get('counter')).toBeUndefined();
    expect(b.stats()).toMatchObject({ misses: 1, l2_hits: 0, l1_hits: 0 });
  });

  it('clears only its own namespace, with SCAN + UNLINK (never KEYS)', async () => {
    const cache = make('clear:');
    await cache.namespace('a').set('x', 1);
    await cache.namespace('b').set('x', 2);
    await cache.namespace('a').clear();
    const client = new Redis(redis.url);
    const left = await client.keys(`${redis.prefix}clear:v:*`); // the test may use KEYS; the cache never does
    client.disconnect();
    expect(left).toEqual([`${redis.prefix}clear:v:b:x`]);
    expect(await cache.namespace('b').get('x')).toBe(2);
    // every Redis command is in the Redis adapter, through `client`
    const source = readFileSync(new URL('../src/adapters/redis.ts', import.meta.url), 'utf8');
    expect(source).toMatch(/client\.scan\(/);
    expect(source).not.toMatch(/client\.keys\(|['"]KEYS['"]/i);
  });
});
