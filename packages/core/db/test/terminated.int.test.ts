// postgres.js 3.4.9 kills the process when a reserved connection's backend is terminated and a
// small query follows (a deferred write on a socket already gone). @diana/db runs on
// @diana/postgres, which carries the fix: the same program, in a child process, against both.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testPooler, useTestDatabase } from '@diana/test-services';
import { describe, expect, it } from 'vitest';

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
