// The shared tier's entry reads of one event-loop turn go to Redis as one MGET (src/adapters/redis.ts).
// A private redis-server for this file, so its command counts are this file's alone.
import { type RedisServer, startRedis } from '@diana/test-services';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CacheService } from '../src/cache.js';
import type { CacheConfigInput } from '../src/config.js';
import { untilListening } from '../src/testing.js';
import { createRedisCache } from './fixtures/redis-cache.js';

let server: RedisServer;
let admin: Redis;
const caches: CacheService[] = [];
beforeAll(async () => {
  server = await startRedis();
  admin = new Redis(server.url);
});
afterAll(async () => {
  await Promise.all(caches.map((cache) => cache.close()));
  admin.disconnect();
  await server.stop();
});

const make = async (config: CacheConfigInput = {}) => {
  const cache = createRedisCache(config, server.port);
  caches.push(cache);
  return untilListening(cache);
};
/** Calls of `name` the server counted since the last `CONFIG RESETSTAT`. */
const calls = async (name: string) => {
  const info = await admin.info('commandstats');
  return Number(new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(info)?.[1] ?? 0);
};
const fill = async (prefix: string, count: number) => {
  const writer = await make({ key_prefix: prefix });
  for (let i = 0; i < count; i++) await writer.set(`k${i}`, { n: i });
};

describe('reads of one turn', () => {
  it('go as one MGET per redis_batch_max keys, each caller with its own entry or miss', async () => {
    await fill('batch:', 40);
    const reader = await make({ key_prefix: 'batch:' }); // its memory tier is cold
    await admin.config('RESETSTAT');
    // 40 reads of stored keys and 2 of missing ones, all asked in this turn
    const keys = [...Array.from({ length: 40 }, (_, i) => `k${i}`), 'missing:1', 'missing:2'];
    const values = await Promise.all(keys.map((key) => reader.get<{ n: number }>(key)));
    expect(values.slice(0, 40)).toEqual(Array.from({ length: 40 }, (_, n) => ({ n })));
    expect(values.slice(40)).toEqual([undefined, undefined]);
    // 42 reads, 16 at most in one MGET (the default): 3 commands, no GET
    expect(await calls('mget')).toBe(3);
    expect(await calls('get')).toBe(0);
    expect(reader.stats().l2_hits).toBe(40);
    // a lone read in its turn is a plain GET
    await admin.config('RESETSTAT');
    expect(await reader.get('missing:3')).toBeUndefined();
    expect(await calls('get')).toBe(1);
    expect(await calls('mget')).toBe(0);
  });

  it('go one GET each with redis_batch_max: 1', async () => {
    await fill('single:', 10);
    const reader = await make({ key_prefix: 'single:', redis_batch_max: 1 });
    await admin.config('RESETSTAT');
    const values = await Promise.all(Array.from({ length: 10 }, (_, i) => reader.get<{ n: number }>(`k${i}`)));
    expect(values).toEqual(Array.from({ length: 10 }, (_, n) => ({ n })));
    expect(await calls('get')).toBe(10);
    expect(await calls('mget')).toBe(0);
  });

  it('that fail are a miss for each of their callers, and the next reads work', async () => {
    await fill('fail:', 20);
    // a threshold above the reads below: the breaker stays closed, so the reads after go to Redis
    const reader = await make({ key_prefix: 'fail:', command_timeout_ms: 200, breaker_threshold: 1_000 });
    server.pause(); // SIGSTOP: the MGET gets no answer and runs into its time limit
    let values: unknown[];
    try {
      values = await Promise.all(Array.from({ length: 20 }, (_, i) => reader.get(`k${i}`)));
    } finally {
      server.resume();
    }
    expect(values).toEqual(Array.from({ length: 20 }, () => undefined));
    expect(reader.stats().l2_failures).toBe(20);
    const again = await Promise.all(Array.from({ length: 20 }, (_, i) => reader.get<{ n: number }>(`k${i}`)));
    expect(again).toEqual(Array.from({ length: 20 }, (_, n) => ({ n })));
  });
});
