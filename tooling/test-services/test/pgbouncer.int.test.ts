import postgres from '@diana/postgres';
import { afterEach, describe, expect, it } from 'vitest';
import { findPgBouncer, startPgBouncer } from '../src/pgbouncer.js';
import { usePooler } from '../src/pooler.js';
import { createTestDatabase } from '../src/postgres.js';

const ends: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  while (ends.length > 0) await ends.pop()?.();
});

function client(url: string) {
  const stripped = new URL(url);
  stripped.searchParams.delete('pgbouncer');
  // the admin console answers only simple queries: no type fetch at connect
  const sql = postgres(stripped.toString(), { max: 1, prepare: false, fetch_types: false, onnotice: () => {} });
  ends.push(() => sql.end({ timeout: 1 }));
  return sql;
}

// PgBouncer is a Debian package (`apt-get install pgbouncer`; CI installs it): without it these
// tests say so and skip, unless the run asked for the PgBouncer pass, which needs it
const installed = findPgBouncer() !== undefined;
const required = process.env.DIANA_TEST_POOLER === 'pgbouncer';
if (!installed && !required)
  console.warn('startPgBouncer tests skipped: pgbouncer is not installed (apt-get install pgbouncer)');

describe.skipIf(!installed && !required)('startPgBouncer', () => {
  it('pools a test database in transaction mode and stops', async () => {
    const db = await createTestDatabase('pgbouncer');
    ends.push(() => db.drop());
    const bouncer = await startPgBouncer();
    ends.push(() => bouncer.stop());
    expect(bouncer.urlFor(db.name)).toMatch(/\?pgbouncer=true$/);

    const sql = client(bouncer.urlFor(db.name));
    const [row] = await sql<{ db: string }[]>`select current_database() as db`;
    expect(row?.db).toBe(db.name);
    // why a pool behind it must not send its timeouts at connect (nor ?pgbouncer=true)
    const refused: Array<Record<string, string | number>> = [{ statement_timeout: 1000 }, { pgbouncer: 'true' }];
    for (const connection of refused) {
      const strict = postgres(`postgres://postgres@127.0.0.1:${bouncer.port}/${db.name}`, {
        max: 1,
        prepare: false,
        connection: connection as postgres.Options<Record<string, never>>['connection'],
        onnotice: () => {},
      });
      ends.push(() => strict.end({ timeout: 1 }));
      await expect(strict`select 1`).rejects.toThrow(/unsupported startup parameter/);
    }
    const admin = client(bouncer.urlFor('pgbouncer'));
    const config = await admin.unsafe<{ key: string; value: string }[]>('SHOW CONFIG').simple();
    expect(config.find((line) => line.key === 'pool_mode')?.value).toBe('transaction');
    await admin.end();

    await bouncer.stop();
    const after = postgres(`postgres://postgres@127.0.0.1:${bouncer.port}/${db.name}`, {
      max: 1,
      connect_timeout: 2,
      prepare: false,
      onnotice: () => {},
    });
    ends.push(() => after.end({ timeout: 1 }));
    await expect(after`select 1`).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('hands out URLs through a private pooler when DIANA_TEST_POOLER=pgbouncer, stopped with the last lease', async () => {
    const before = process.env.DIANA_TEST_POOLER;
    process.env.DIANA_TEST_POOLER = 'pgbouncer';
    try {
      const db = await createTestDatabase('pooled');
      expect(db.pooler).toBe('pgbouncer');
      expect(db.url).not.toBe(db.direct_url);
      const sql = client(db.url);
      const [row] = await sql<{ db: string }[]>`select current_database() as db`;
      expect(row?.db).toBe(db.name);
      await sql.end();
      const port = new URL(db.url).port;
      await db.drop();
      const after = postgres(`postgres://postgres@127.0.0.1:${port}/postgres`, {
        max: 1,
        connect_timeout: 2,
        prepare: false,
        onnotice: () => {},
      });
      ends.push(() => after.end({ timeout: 1 }));
      await expect(after`select 1`).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    } finally {
      if (before === undefined) delete process.env.DIANA_TEST_POOLER;
      else process.env.DIANA_TEST_POOLER = before;
    }
  });

  it('refuses an unknown DIANA_TEST_POOLER', async () => {
    const before = process.env.DIANA_TEST_POOLER;
    process.env.DIANA_TEST_POOLER = 'pgpool';
    try {
      await expect(usePooler()).rejects.toThrow(/expected pgbouncer or none/);
    } finally {
      if (before === undefined) delete process.env.DIANA_TEST_POOLER;
      else process.env.DIANA_TEST_POOLER = before;
    }
  });
});
