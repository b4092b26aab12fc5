// @diana/redis: the one fail-fast Redis setup every adapter gets its clients from.

// The connector and its retry curve
export type { ClusterNodeInput } from './cluster-nodes.js';
export type { RedisClient, RedisCommandClientOptions, RedisConnector, RedisConnectorOptions } from './connector.js';
export {
  createRedisConnector,
  isCluster,
  mastersOf,
  quitWithin,
  REDIS_RETRY_MAX_MS,
  REDIS_RETRY_STEP_MS,
  redisRetryDelay,
} from './connector.js';
// What Redis does when full
export { evictionRisk, explainRedisError, readEvictionPolicies } from './eviction.js';
// What it keeps on disk
export { persistenceRisk, readAppendOnly } from './persistence.js';
// Its own error codes
export { REDIS_ERROR_CODES } from './errors.js';
