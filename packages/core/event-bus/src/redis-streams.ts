// @diana/event-bus/adapters/redis-streams: the production transport.

export type { RedisStreamsOptions } from './adapters/redis-streams.js';
export { compareIds, createRedisStreamsTransport } from './adapters/redis-streams.js';
