import { startRedis } from '@diana/test-services';
import { Redis } from 'ioredis';
import { expect, it } from 'vitest';
import { createCache } from '../src/cache.js';

it('answers every call while Redis is down (breaker open), and uses Redis again when it is back', async () => {
  const server = await startRedis();
  const cache = createCache(
    { command_timeout_ms: 200, breaker_threshold: 3, breaker_cooldown_ms: 300 },
    { redis: { port: server.port } },
  );
  try {
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
    expect(await client.exists('diana:cache:v:after')).toBe(1);
    client.disconnect();
  } finally {
    await cache.close();
    await server.stop();
  }
}, 30_000);
