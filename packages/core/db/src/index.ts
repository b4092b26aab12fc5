// Config

export type { DatabaseConfigInput } from './config.js';
export { DatabaseConfig, DEFAULT_POOL_MAX, DEFAULT_STATEMENT_TIMEOUT_MS, MongoConfig } from './config.js';
export type { DbErrorCode } from './errors.js';
// Errors
export { DB_ERROR_CODES, toDbError } from './errors.js';
export type { PoolStats } from './metrics.js';
export type { Database, DbSession, PostgresDeps } from './postgres.js';
// PostgreSQL
export { createPostgres, getDbSession } from './postgres.js';
