// The connector

export type { RedisCommandClientOptions, RedisConnector, RedisConnectorOptions } from './connector.js';
export {
  createRedisConnector,
  quitWithin,
  REDIS_RETRY_MAX_MS,
  REDIS_RETRY_STEP_MS,
  redisRetryDelay,
} from './connector.js';
