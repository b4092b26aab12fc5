// Type tests (checked by `pnpm typecheck`): the connector is Closeable and hands out ioredis clients.
import type { Closeable } from '@diana/utils';
import type { Cluster, Redis } from 'ioredis';
import { describe, expectTypeOf, it } from 'vitest';
import { createRedisConnector, type RedisClient, type RedisConnector, redisRetryDelay } from '../src/connector.js';

describe('RedisConnector', () => {
  it('is Closeable, with close({ timeout_ms })', () => {
    expectTypeOf<RedisConnector>().toExtend<Closeable>();
    expectTypeOf<RedisConnector['close']>().toBeCallableWith({ timeout_ms: 1_000 });
  });

  it('hands out ioredis clients and a ping in ms', () => {
    const connector = createRedisConnector({ url: 'redis://127.0.0.1:6379' });
    expectTypeOf(connector.command({ command_timeout_ms: 100 })).toEqualTypeOf<RedisClient>();
    expectTypeOf(connector.blocking()).toEqualTypeOf<RedisClient>();
    expectTypeOf<RedisClient>().toEqualTypeOf<Redis | Cluster>();
    expectTypeOf(connector.cluster).toBeBoolean();
    expectTypeOf(connector.ping()).resolves.toBeNumber();
    expectTypeOf(redisRetryDelay).toEqualTypeOf<(times: number) => number>();
  });
});
