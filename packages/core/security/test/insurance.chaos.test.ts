// Redis stops under the limiter: the insurance limiter keeps limiting and nothing throws.
import { createRedisConnector } from '@diana/redis';
import { startRedis } from '@diana/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisRateLimitStore } from '../src/adapters/redis.js';
import { createRateLimiter } from '../src/rate-limit.js';

const server = await startRedis();
const config = { rate_limit_timeout_ms: 200 };
const limiter = createRateLimiter(config, {
  store: createRedisRateLimitStore(config, { connector: createRedisConnector({ options: { port: server.port } }) }),
  getPolicy: () => ({ limit: 5, window_ms: 60_000 }),
});
afterAll(async () => {
  await limiter.close();
  await server.stop();
});

describe('the rate limiter when Redis stops', () => {
  it('still limits through the insurance limiter, without an exception reaching the caller; Redis decides again after a restart', async () => {
    expect(await limiter.consume(1, 'purchase')).toMatchObject({ allowed: true, degraded: false });
    await server.kill();
    expect(server.pid).toBeUndefined(); // the fault happened
    const during = [];
    for (let i = 0; i < 8; i++) during.push(await limiter.consume(2, 'purchase'));
    expect(during.every((r) => r.degraded)).toBe(true);
    expect(during.filter((r) => r.allowed)).toHaveLength(5);
    expect(during.at(-1)?.retry_after_ms).toBeGreaterThan(0);

    await server.restart();
    const deadline = Date.now() + 10_000;
    let after = await limiter.consume(3, 'purchase');
    while (after.degraded && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      after = await limiter.consume(3, 'purchase');
    }
    expect(after.degraded).toBe(false);
  });

  it('answers within rate_limit_timeout_ms through the insurance limiter while Redis hangs', async () => {
    expect((await limiter.consume(4, 'purchase')).degraded).toBe(false);
    server.pause();
    try {
      const started = performance.now();
      const result = await limiter.consume(4, 'purchase');
      const took = performance.now() - started;
      expect(result.degraded).toBe(true); // the fault happened
      expect(took).toBeGreaterThanOrEqual(150);
      expect(took).toBeLessThan(2_000); // 200 ms with a busy machine's slack; Redis never answers here
    } finally {
      server.resume();
    }
  });
});
