// @diana/db: PostgreSQL with the ambient transaction, migrations, users, and the document store.

// Config
export type { DatabaseConfigInput, Pooler } from './config.js';
export { DatabaseConfig, DEFAULT_POOL_MAX, DEFAULT_STATEMENT_TIMEOUT_MS, MongoConfig, POOLERS } from './config.js';

// PostgreSQL: the pool and the ambient session (db.session(), db.transaction())
export type { Database, DbSession, PostgresDeps } from './postgres.js';
export type { PoolStats } from './metrics.js';
export { createPostgres, getDbSession } from './postgres.js';

// What a commit's durability rests on (said at start)
export type { DurabilitySettings } from './durability.js';
export { durabilityRisks, readDurabilitySettings } from './durability.js';

// Migrations
export type {
  MigrateOptions,
  Migration,
  MigrationResult,
  MigrationSource,
  MigrationStatusEntry,
} from './migrate.js';
export { loadMigrations, migrate, migrationStatus, packageMigrations } from './migrate.js';
export { DB_MIGRATIONS } from './migrations.js';

// Removing many rows in bounded deletes (retention)
export type { Batch, BatchOptions } from './batches.js';
export { inBatches, MAX_RETENTION_MS } from './batches.js';

// Users
export type { User, UserRepository, UserRole, UserStatus } from './users.js';
export { createUserRepository, TelegramUserInput, USER_ROLES, USER_STATUSES } from './users.js';

// Document store (also ./adapters/memory, ./adapters/postgres; MongoDB is ./mongo)
export type { DocumentData, DocumentStore, FieldValue, FindQuery, StoredDocument, WriteOptions } from './documents.js';
export { DEFAULT_FIND_LIMIT, MAX_DOCUMENT_BYTES, MAX_FIND_LIMIT } from './documents.js';
export { createMemoryDocumentStore } from './adapters/memory.js';
export { createPostgresDocumentStore } from './adapters/postgres.js';

// Errors
export type { DbErrorCode } from './errors.js';
export { DB_ERROR_CODES, isConnectFailure, toDbError } from './errors.js';
export { withoutWait } from './instrument.js';
