// Config

export { createMemoryDocumentStore } from './adapters/memory.js';
export { createPostgresDocumentStore } from './adapters/postgres.js';
export type { DatabaseConfigInput, Pooler } from './config.js';
export { DatabaseConfig, DEFAULT_POOL_MAX, DEFAULT_STATEMENT_TIMEOUT_MS, MongoConfig, POOLERS } from './config.js';
export type { DocumentData, DocumentStore, FieldValue, FindQuery, StoredDocument, WriteOptions } from './documents.js';
// Document store
export { DEFAULT_FIND_LIMIT, MAX_FIND_LIMIT } from './documents.js';
export type { DbErrorCode } from './errors.js';
// Errors
export { DB_ERROR_CODES, toDbError } from './errors.js';
export type { PoolStats } from './metrics.js';
export type {
  MigrateOptions,
  Migration,
  MigrationResult,
  MigrationSource,
  MigrationStatusEntry,
} from './migrate.js';
// Migrations
export { loadMigrations, migrate, migrationStatus, packageMigrations } from './migrate.js';
export { DB_MIGRATIONS } from './migrations.js';
export type { Database, DbSession, PostgresDeps } from './postgres.js';
// PostgreSQL
export { createPostgres, getDbSession } from './postgres.js';
export type { User, UserRepository, UserRole, UserStatus } from './users.js';
// Users
export { createUserRepository, TelegramUserInput, USER_ROLES, USER_STATUSES } from './users.js';
