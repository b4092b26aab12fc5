// Type tests (vitest --typecheck): the bus and its transports are Closeable; the Redis
// transport takes a connector.
import type { RedisConnector } from '@diana/redis';
import type { Closeable } from '@diana/utils';
import { describe, expectTypeOf, it } from 'vitest';
import {
  createRedisStreamsTransport,
  type RedisStreamsConfig,
  type RedisStreamsDeps,
} from '../src/adapters/redis-streams.js';
import type { EventBusService } from '../src/bus.js';
import type { StreamTransport } from '../src/types.js';

describe('event bus lifecycle and transports', () => {
  it('the bus and every transport are Closeable, with close({ timeout_ms })', () => {
    expectTypeOf<EventBusService>().toExtend<Closeable>();
    expectTypeOf<StreamTransport>().toExtend<Closeable>();
    expectTypeOf<StreamTransport['close']>().toBeCallableWith({ timeout_ms: 1_000 });
  });

  it('the Redis Streams transport is createX(config, deps): its connections come from a connector in deps', () => {
    expectTypeOf<RedisStreamsDeps['connector']>().toEqualTypeOf<RedisConnector>();
    expectTypeOf(createRedisStreamsTransport).parameters.toEqualTypeOf<[RedisStreamsConfig, RedisStreamsDeps]>();
    expectTypeOf(createRedisStreamsTransport).returns.toEqualTypeOf<StreamTransport>();
    // @ts-expect-error no client or ioredis options to copy
    expectTypeOf<RedisStreamsConfig>().toHaveProperty('redis');
    // @ts-expect-error the connector is a dependency, not a setting
    expectTypeOf<RedisStreamsConfig>().toHaveProperty('connector');
  });
});
