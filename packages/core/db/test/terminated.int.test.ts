// postgres.js 3.4.9 kills the process when a reserved connection's backend is terminated and a
// small query follows (a deferred write on a socket already gone). @diana/db runs on
// @diana/postgres, which carries the fix: the same program, in a child process, against both.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testPooler, useTestDatabase } from '@diana/test-services';
import { describe, expect, it } from 'vitest';
import { createPostgres } from '../src/index.js';

const run = promisify(execFile);
const PROGRAM = fileURLToPath(new URL('./fixtures/terminated/reserved.mjs', import.meta.url));
// Through PgBouncer every test of this file is skipped (below), so nothing is made then: vitest
// runs no afterAll in a file whose tests are all skipped.
const pooled = testPooler() !== undefined;
const url = pooled ? '' : (await useTestDatabase('db-terminated')).url;

const child = (driver: string) =>
  run(process.execPath, [PROGRAM, url, driver], { timeout: 60_000 }).then(
    ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );

// About the driver on a session of its own whose backend is terminated: through PgBouncer
// (DIANA_TEST_POOLER=pgbouncer) the backend belongs to the pooler, not to the reserved connection.
describe.skipIf(pooled)('a reserved connection whose backend is terminated', () => {
  it('kills the process on stock postgres.js 3.4.9 (the defect is real here)', async () => {
    const stock = await child('postgres');
    expect(stock.code).not.toBe(0);
    expect(stock.stderr).toContain("TypeError: Cannot read properties of null (reading 'write')");
    expect(stock.stderr).toContain('nextWrite');
  });

  it('through @diana/db: every query fails with a catchable E_DB_UNAVAILABLE, none hangs, the pool serves the next', async () => {
    for (let round = 0; round < 3; round++) {
      const ours = await child('@diana/db');
      expect(ours.stderr).toBe('');
      expect(ours.code).toBe(0);
      expect(JSON.parse(ours.stdout.trim())).toEqual({ ok: true, codes: ['E_DB_UNAVAILABLE'] });
    }
  });

  it('the vendored driver alone (@diana/postgres) survives it too', async () => {
    const vendored = await child('@diana/postgres');
    expect(vendored.code).toBe(0);
    expect(JSON.parse(vendored.stdout.trim())).toMatchObject({ ok: true });
  });
});

// A transaction whose session dies while its body waits on something else: the driver rejects the
// transaction at once (its connection closed), but the body goes on when that wait ends. What it
// then defers to COMMIT, or runs through `db.session()`, must fail with the transaction — never
// run on its own. Otherwise an inbox row (written "with COMMIT") can be committed alone after
// the handler's transaction died, and the redelivery finds the event handled: the likely cause
// of an award left unpaid in CI's PgBouncer system run. On Node 20 and 22 the ambient store was
// switched off when the last open transaction ended, the dying one's too, with its body running.
describe.skipIf(pooled)('a transaction whose session is terminated while its body waits', () => {
  it('its body, going on afterwards, writes nothing: beforeCommit work and session statements fail with it', async () => {
    const db = createPostgres({ url: url as never, pool_max: 3 });
    try {
      await db.sql`create table if not exists after_death (n int)`;
      let pid: (value: number) => void = () => {};
      const backend = new Promise<number>((resolve) => {
        pid = resolve;
      });
      let release: () => void = () => {};
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let bodyEnded: (outcome: string) => void = () => {};
      const body = new Promise<string>((resolve) => {
        bodyEnded = resolve;
      });
      const transaction = db.transaction(async (tx) => {
        const [row] = await tx<{ pid: number }[]>`select pg_backend_pid() as pid`;
        pid(row?.pid as number);
        await gate; // not the database: a Redis call, a timer, another service
        try {
          await db.beforeCommit?.((session) => session`insert into after_death values (1)`);
          await db.session()`insert into after_death values (2)`;
          bodyEnded('went on');
        } catch (error) {
          bodyEnded(`failed: ${(error as Error).message}`);
          throw error;
        }
      });
      const outcome = transaction.then(
        () => 'committed',
        (error: unknown) => `rejected: ${(error as { code?: string }).code}`,
      );
      await db.sql`select pg_terminate_backend(${await backend})`;
      // the driver gives up on the transaction as its connection closes, the body still waiting
      expect(await outcome).toMatch(/^rejected: /);
      release();
      expect(await body).toMatch(/^failed: /);
      const [count] = await db.sql<{ n: number }[]>`select count(*)::int as n from after_death`;
      expect(count?.n).toBe(0);
    } finally {
      await db.sql`drop table if exists after_death`.catch(() => {});
      await db.close();
    }
  });
});
