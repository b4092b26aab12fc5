// Type tests (vitest --typecheck): the manager is Closeable and takes its Redis store in deps.
import type { Closeable } from '@diana/utils';
import { describe, expectTypeOf, it } from 'vitest';
import { createRedisStateStore, type RedisStateStore, type RedisStateStoreDeps } from '../src/adapters/redis.js';
import type { UserStateDeps, UserStateManager } from '../src/manager.js';
import type { SliceDefinition } from '../src/slice.js';

type Deps = UserStateDeps<readonly SliceDefinition[]>;

describe('user-state lifecycle and ports', () => {
  it('is Closeable, with close({ timeout_ms })', () => {
    expectTypeOf<UserStateManager>().toExtend<Closeable>();
    expectTypeOf<UserStateManager['close']>().toBeCallableWith({ timeout_ms: 1_000 });
  });

  it('takes its Redis store as deps.store, built by the adapter from a connector', () => {
    expectTypeOf<Deps['store']>().toEqualTypeOf<RedisStateStore | undefined>();
    expectTypeOf(createRedisStateStore).parameter(1).toEqualTypeOf<RedisStateStoreDeps>();
    expectTypeOf(createRedisStateStore).returns.toEqualTypeOf<RedisStateStore>();
    // @ts-expect-error the manager no longer copies a client or ioredis options
    expectTypeOf<Deps>().toHaveProperty('redis');
  });
});
