import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDocumentStore } from '../src/adapters/postgres.js';
import { createEmbeddedPostgres } from '../src/embedded.js';
import { migrate, migrationStatus } from '../src/migrations.js';
import type { Database } from '../src/postgres.js';
import { DB_MIGRATIONS } from '../src/sources.js';
import { describeDocumentStore } from '../src/testing.js';
import { createUserRepository } from '../src/users.js';
import { describeUserRepository } from './users.shared.js';

const dir = mkdtempSync(join(tmpdir(), 'diana-pglite-'));
let db: Database;
beforeAll(async () => {
  db = await createEmbeddedPostgres({ dir });
  const result = await migrate(db, [DB_MIGRATIONS]);
  expect(result.applied).toEqual(['@diana/db/0001_users.sql', '@diana/db/0002_documents.sql']);
}, 60_000);
afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

describeUserRepository('embedded PGlite', () => db);
describeDocumentStore('postgres adapter on embedded PGlite', async () => createPostgresDocumentStore(db));

describe('embedded PostgreSQL', () => {
  it('runs transactions and reports itself through the same Database', async () => {
    await db.transaction(async (tx) => {
      await tx`create table embedded_probe (v int)`;
      await tx`insert into embedded_probe values (1)`;
    });
    const [row] = await db.sql<{ v: number }[]>`select v from embedded_probe`;
    expect(row?.v).toBe(1);
    expect((await db.ping()).latency_ms).toBeGreaterThan(0);
    expect(db.stats().max).toBe(1);
  });

  it('keeps data in its directory across a restart', async () => {
    const users = createUserRepository(db);
    await users.upsertFromTelegram({ id: 777, first_name: 'Persisted' });
    await db.close();
    db = await createEmbeddedPostgres({ dir });
    expect((await createUserRepository(db).getByTelegramId(777))?.first_name).toBe('Persisted');
    expect((await migrationStatus(db, [DB_MIGRATIONS])).every((s) => s.status === 'applied')).toBe(true);
  }, 60_000);
});
