// Type tests (vitest --typecheck): the limiter is Closeable and takes its store in deps.
import type { Closeable } from '@diana/utils';
import { describe, expectTypeOf, it } from 'vitest';
import { createRedisRateLimitStore, type RedisRateLimitStoreDeps } from '../src/adapters/redis.js';
import type { RateLimiter, RateLimiterDeps } from '../src/rate-limit.js';
import type { RateLimitStore } from '../src/rate-types.js';

describe('rate limiter lifecycle and ports', () => {
  it('is Closeable, with close({ timeout_ms })', () => {
    expectTypeOf<RateLimiter>().toExtend<Closeable>();
    expectTypeOf<RateLimiter['close']>().toBeCallableWith({ timeout_ms: 1_000 });
  });

  it('takes its store as deps.store, built by the Redis adapter from a connector', () => {
    expectTypeOf<RateLimiterDeps['store']>().toEqualTypeOf<RateLimitStore | undefined>();
    expectTypeOf(createRedisRateLimitStore).parameter(1).toEqualTypeOf<RedisRateLimitStoreDeps>();
    expectTypeOf(createRedisRateLimitStore).returns.toExtend<RateLimitStore>();
    // @ts-expect-error the limiter no longer copies a client or ioredis options
    expectTypeOf<RateLimiterDeps>().toHaveProperty('redis');
  });
});
