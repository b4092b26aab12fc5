// What a commit's durability rests on: the settings read as the bot's sessions get them, and the
// risk said for each unsafe one.
import { useTestDatabase } from '@diana/test-services';
import { describe, expect, it } from 'vitest';
import { durabilityRisks, readDurabilitySettings } from '../src/durability.js';
import { createPostgres } from '../src/postgres.js';

const SAFE = { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on' };

describe('the durability settings', () => {
  it("are read as this database's sessions get them: synchronous_commit off for the database is said", async () => {
    const testDb = await useTestDatabase('db-durability');
    // set for the database, as an operator tuning for speed would: new sessions get it
    const admin = createPostgres({ url: testDb.direct_url });
    await admin.sql.unsafe(`alter database "${testDb.name}" set synchronous_commit = off`);
    await admin.close();
    const db = createPostgres({ url: testDb.url });
    try {
      const settings = await readDurabilitySettings(db);
      expect(settings).toMatchObject({ synchronous_commit: 'off' });
      const risks = durabilityRisks(settings);
      expect(risks).toHaveLength(1);
      expect(risks[0]).toMatch(/^PostgreSQL's synchronous_commit is off.*lost for good.*set synchronous_commit on$/);
    } finally {
      await db.close();
    }
  });

  it('say nothing at their safe values (local and remote_* commits wait for the local disk too)', () => {
    expect(durabilityRisks(SAFE)).toEqual([]);
    for (const value of ['local', 'remote_write', 'remote_apply'])
      expect(durabilityRisks({ ...SAFE, synchronous_commit: value })).toEqual([]);
  });

  it('name fsync and full_page_writes off (server-wide settings: not changed on the shared test server)', () => {
    expect(durabilityRisks({ ...SAFE, fsync: 'off' })).toEqual([
      expect.stringMatching(/^PostgreSQL runs with fsync off/),
    ]);
    expect(durabilityRisks({ ...SAFE, full_page_writes: 'off' })).toEqual([
      expect.stringMatching(/^PostgreSQL runs with full_page_writes off/),
    ]);
  });
});
