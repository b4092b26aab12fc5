import { useTestDatabase } from '@diana/test-services';
import { afterAll, beforeAll } from 'vitest';
import { migrate } from '../src/migrate.js';
import { DB_MIGRATIONS } from '../src/migrations.js';
import { createPostgres, type Database } from '../src/postgres.js';
import { describeUserRepository } from './users.shared.js';

const testDb = await useTestDatabase('users');
let db: Database;
beforeAll(async () => {
  db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
  await migrate(db, [DB_MIGRATIONS]);
});
afterAll(() => db.close());

describeUserRepository('PostgreSQL', () => db);
