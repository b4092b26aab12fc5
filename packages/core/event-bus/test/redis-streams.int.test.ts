import { createRedisConnector } from '@diana/redis';
import { useTestRedis } from '@diana/test-services';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { describeEventBusTransport } from '../src/testing.js';

const redis = await useTestRedis('event-bus');

// Each namespace is a key prefix on the shared test Redis; two transports on one prefix are
// two processes on one Redis.
describeEventBusTransport('redis-streams', async (namespace) =>
  createRedisStreamsTransport(
    { prefix: `${redis.prefix}${namespace}:` },
    { connector: createRedisConnector({ options: { host: '127.0.0.1', port: Number(new URL(redis.url).port) } }) },
  ),
);
