// The public API of @diana/db, pinned: a value export added, renamed or removed fails this type
// test until the list changes with it (the README's API section follows it: pnpm lint checks).
import { describe, expectTypeOf, it } from 'vitest';
import type * as api from '../src/index.js';

describe('@diana/db public API', () => {
  it('exports exactly these values', () => {
    expectTypeOf<keyof typeof api>().toEqualTypeOf<
      | 'DB_ERROR_CODES'
      | 'DB_MIGRATIONS'
      | 'DEFAULT_FIND_LIMIT'
      | 'DEFAULT_POOL_MAX'
      | 'DEFAULT_STATEMENT_TIMEOUT_MS'
      | 'DatabaseConfig'
      | 'MAX_DOCUMENT_BYTES'
      | 'MAX_FIND_LIMIT'
      | 'MAX_RETENTION_MS'
      | 'MongoConfig'
      | 'POOLERS'
      | 'TelegramUserInput'
      | 'USER_ROLES'
      | 'USER_STATUSES'
      | 'createMemoryDocumentStore'
      | 'createPostgres'
      | 'createPostgresDocumentStore'
      | 'createUserRepository'
      | 'durabilityRisks'
      | 'getDbSession'
      | 'inBatches'
      | 'isConnectFailure'
      | 'loadMigrations'
      | 'migrate'
      | 'migrationStatus'
      | 'packageMigrations'
      | 'readDurabilitySettings'
      | 'toDbError'
      | 'withoutWait'
    >();
  });
});
