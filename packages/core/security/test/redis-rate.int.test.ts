import { createRedisConnector } from '@diana/redis';
import { captureLogLines, startRedis, useTestRedis } from '@diana/test-services';
import { createLogger } from '@diana/utils';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisRateLimitStore, type RedisRateLimitStore } from '../src/adapters/redis.js';
import { createRateLimiter, type RateLimiter } from '../src/rate-limit.js';
import { describeRateLimitStore } from '../src/testing.js';

const redis = await useTestRedis('security');
const connector = createRedisConnector({ url: redis.url });
const opened: Array<RedisRateLimitStore | RateLimiter> = [];
afterAll(async () => {
  await Promise.all(opened.map((o) => o.close()));
  await connector.close();
});

describeRateLimitStore('redis', () => {
  // the suite checks exactness, not latency: its 10 000-call storm queues behind one connection
  // and can take seconds on a busy machine (CI runs every package at once); timeouts have their
  // own test (insurance.chaos.test.ts, a hung Redis)
  const store = createRedisRateLimitStore(
    { rate_limit_prefix: redis.prefix, rate_limit_timeout_ms: 30_000 },
    { connector },
  );
  opened.push(store);
  return { store, advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
});

describeRateLimitStore('redis, each decision its own call (rate_limit_batch_max: 1)', () => {
  const store = createRedisRateLimitStore(
    { rate_limit_prefix: `${redis.prefix}single:`, rate_limit_timeout_ms: 30_000, rate_limit_batch_max: 1 },
    { connector },
  );
  opened.push(store);
  return { store, advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)) };
});

describe('createRateLimiter on Redis', () => {
  it('shares one budget between limiters (processes) and decides on Redis, not degraded', async () => {
    // a generous deadline: this case is about the shared budget, not the 250 ms default
    const config = { rate_limit_prefix: `${redis.prefix}shared:`, rate_limit_timeout_ms: 30_000 };
    const getPolicy = () => ({ limit: 10, window_ms: 60_000 });
    const a = createRateLimiter(config, { store: createRedisRateLimitStore(config, { connector }), getPolicy });
    const b = createRateLimiter(config, { store: createRedisRateLimitStore(config, { connector }), getPolicy });
    opened.push(a, b);
    expect(a.backend).toBe('redis');
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).consume(42, 'purchase')));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect(results.every((r) => !r.degraded)).toBe(true);
  });
});

describe('a Redis out of memory', () => {
  it('degrades to the insurance limiter, and the warning says Redis is out of memory (it read as unreachable)', async () => {
    await using server = await startRedis({ args: ['--maxmemory', '2mb', '--maxmemory-policy', 'noeviction'] });
    const full = createRedisConnector({ url: server.url });
    const { destination, lines } = captureLogLines();
    try {
      const admin = full.command({ name: 'filler' });
      await full.ready({ timeout_ms: 5_000 });
      // past maxmemory: every write is refused with OOM
      await admin.call('DEBUG', 'POPULATE', '50000', 'filler', '100');
      await expect(admin.set('probe', '1')).rejects.toThrow(/^OOM/);
      const config = { rate_limit_prefix: 'oom:', rate_limit_timeout_ms: 5_000 };
      const limiter = createRateLimiter(config, {
        store: createRedisRateLimitStore(config, { connector: full }),
        getPolicy: () => ({ limit: 10, window_ms: 60_000 }),
        logger: createLogger({ level: 'info', destination }),
      });
      opened.push(limiter);
      expect(await limiter.consume(1, 'purchase')).toMatchObject({ degraded: true });
      expect(lines).toMatchObject([
        {
          level: 'warn',
          msg: 'rate limiter: Redis unavailable, the in-memory insurance limiter decides',
          reason: 'Redis is out of memory (maxmemory reached): it refuses writes until memory is freed',
        },
      ]);
    } finally {
      await full.close();
    }
  });
});
