// Type tests (vitest --typecheck): the cache and its store port share the lifecycle shape.
import type { Closeable } from '@diana/utils';
import { describe, expectTypeOf, it } from 'vitest';
import { createRedisCacheStore, type RedisCacheStoreDeps } from '../src/adapters/redis.js';
import type { CacheDeps, CacheService } from '../src/cache.js';
import type { CacheStore } from '../src/types.js';

describe('cache lifecycle and ports', () => {
  it('is Closeable, with close({ timeout_ms })', () => {
    expectTypeOf<CacheService>().toExtend<Closeable>();
    expectTypeOf<CacheService['close']>().toBeCallableWith({ timeout_ms: 1_000 });
  });

  it('takes its shared tier as deps.store, built by the Redis adapter from a connector', () => {
    expectTypeOf<CacheDeps['store']>().toEqualTypeOf<CacheStore | undefined>();
    expectTypeOf(createRedisCacheStore).parameter(1).toEqualTypeOf<RedisCacheStoreDeps>();
    expectTypeOf(createRedisCacheStore).returns.toEqualTypeOf<CacheStore>();
    // @ts-expect-error the cache no longer copies a client or ioredis options
    expectTypeOf<CacheDeps>().toHaveProperty('redis');
  });
});
