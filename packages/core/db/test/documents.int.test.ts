import { getMongoUrl, useTestDatabase } from '@diana/test-services';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { createMemoryDocumentStore } from '../src/adapters/memory.js';
import { createPostgresDocumentStore } from '../src/adapters/postgres.js';
import { migrate } from '../src/migrate.js';
import { DB_MIGRATIONS } from '../src/migrations.js';
import { createMongo, createMongoDocumentStore } from '../src/mongo.js';
import { createPostgres, type Database } from '../src/postgres.js';
import { describeDocumentStore } from '../src/testing.js';

const testDb = await useTestDatabase('documents');
let db: Database;
beforeAll(async () => {
  db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
  await migrate(db, [DB_MIGRATIONS]);
});
afterAll(() => db.close());

describeDocumentStore('memory', async () => createMemoryDocumentStore());
describeDocumentStore('postgres', async () => createPostgresDocumentStore(db));

const mongoUrl = getMongoUrl();
if (mongoUrl) {
  let mongo: Awaited<ReturnType<typeof createMongo>>;
  describeDocumentStore(
    'mongo',
    async () => {
      mongo = await createMongo({ url: mongoUrl, database: `diana_t_${Date.now().toString(36)}` });
      return createMongoDocumentStore(mongo.db);
    },
    async () => {
      await mongo.db.dropDatabase();
      await mongo.close();
    },
  );
} else {
  describe('DocumentStore conformance: mongo', () => {
    it.skip('skipped: set MONGODB_URL to run the MongoDB adapter against a real server', () => {});
  });
  process.stdout.write('[@diana/db] MongoDB adapter tests skipped: MONGODB_URL is not set\n');
}
