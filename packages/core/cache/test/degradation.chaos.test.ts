import { startRedis, until } from '@diana/test-services';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { untilListening } from '../src/testing.js';
import { createRedisCache } from './fixtures/redis-cache.js';

it('answers every call while Redis is down (breaker open), and uses Redis again when it is back', async () => {
  const server = await startRedis();
  const cache = createRedisCache(
    { command_timeout_ms: 200, breaker_threshold: 3, breaker_cooldown_ms: 300 },
    server.port,
  );
  try {
    await untilListening(cache); // from then on it keeps memory copies
    await cache.set('known', 'from-before');
    await server.kill('SIGKILL');

    const results = await Promise.allSettled(
      Array.from({ length: 50 }, (_, i) => cache.getOrSet(i % 2 ? 'known' : `new:${i}`, async () => `computed:${i}`)),
    );
    expect(results.every((r) => r.status === 'fulfilled')).toBe(true);
    expect(results.filter((r) => r.status === 'fulfilled' && r.value === 'from-before')).toHaveLength(25);
    expect(cache.stats().breaker_open).toBe(true);
    expect(cache.stats().l2_failures).toBeGreaterThan(0);

    await server.restart();
    const deadline = Date.now() + 15_000;
    let back = false;
    while (!back && Date.now() < deadline) {
      await cache.set(`probe:${Date.now()}`, 1);
      back = !cache.stats().breaker_open;
      if (!back) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(back).toBe(true);
    await cache.set('after', 'in-redis');
    const client = new Redis(server.url);
    expect(await client.exists('diana:cache:v:{after}')).toBe(1);
    client.disconnect();
  } finally {
    await cache.close();
    await server.stop();
  }
}, 30_000);

it('a Redis that stops answering costs a call one failed step, not one per step of its refresh', async () => {
  const server = await startRedis();
  // a threshold no single call reaches: without the short cut, one miss failed five times
  // (the read, the lease, the second read, the fill and the lease's release)
  // (500 ms: the warm-up below must not time out on a busy machine)
  const cache = createRedisCache({ command_timeout_ms: 500, breaker_threshold: 50 }, server.port);
  try {
    await untilListening(cache);
    expect(await cache.getOrSet('warm', () => 'in-redis')).toBe('in-redis');
    expect(cache.stats().l2_failures).toBe(0);
    const failedSteps = async (key: string) => {
      const before = cache.stats().l2_failures;
      expect(await cache.getOrSet(key, () => `computed:${key}`)).toBe(`computed:${key}`);
      return cache.stats().l2_failures - before;
    };
    // waiting on another process's refresh lease when Redis stalls: the first poll that fails
    // ends the wait (each poll used to wait command_timeout_ms again, until lock_ttl_ms)
    const admin = new Redis(server.url);
    const gets = async () => Number(/cmdstat_get:calls=(\d+)/.exec(await admin.info('commandstats'))?.[1] ?? 0);
    await admin.set('diana:cache:l:{leased}', 'another process', 'PX', 30_000);
    const before = await gets();
    const waiting = failedSteps('leased');
    // its read, then a poll: it is waiting on the lease
    expect(await until(async () => (await gets()) >= before + 2, 5_000)).toBe(true);
    server.pause(); // connected, never answering
    try {
      expect(await waiting).toBe(1);
    } finally {
      server.resume();
      admin.disconnect();
    }
    server.pause();
    try {
      expect(await failedSteps('paused:1')).toBe(1);
      expect(await failedSteps('paused:2')).toBe(1);
    } finally {
      server.resume();
    }
    await server.kill('SIGKILL'); // refused: the connection is never ready
    expect(await failedSteps('killed:1')).toBe(1);
    expect(await failedSteps('killed:2')).toBe(1);
    expect(cache.stats().breaker_open).toBe(false); // each call degraded on its own
  } finally {
    await cache.close();
    await server.stop();
  }
}, 30_000);

it('flushes its in-process tier after the invalidation subscription reconnects', async () => {
  const server = await startRedis();
  const cache = createRedisCache({}, server.port);
  const admin = new Redis(server.url);
  try {
    await untilListening(cache);
    await cache.set('a', 1);
    expect(cache.stats().l1_entries).toBe(1);
    let subscriber: string | undefined;
    const deadline = Date.now() + 5_000;
    while (!subscriber && Date.now() < deadline) {
      const list = String(await admin.client('LIST'));
      subscriber = /id=(\d+)[^\n]*cmd=subscribe/.exec(list)?.[1];
      if (!subscriber) await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(subscriber).toBeDefined();
    expect(await admin.client('KILL', 'ID', subscriber as string)).toBe(1);
    // deaf from the lost connection until its SUBSCRIBE is answered again
    const deaf = Date.now() + 5_000;
    while (cache.stats().listening && Date.now() < deaf) await new Promise((resolve) => setTimeout(resolve, 2));
    expect(cache.stats().listening).toBe(false);
    await untilListening(cache);
    expect(cache.stats().l1_entries).toBe(0); // invalidations may have been missed: memory dropped
    expect(await cache.get('a')).toBe(1); // served from Redis again
    expect(cache.stats().l2_hits).toBe(1);
    expect(await cache.get('a')).toBe(1); // and kept in memory again
    expect(cache.stats()).toMatchObject({ l2_hits: 1, l1_hits: 1 });
  } finally {
    admin.disconnect();
    await cache.close();
    await server.stop();
  }
}, 30_000);
