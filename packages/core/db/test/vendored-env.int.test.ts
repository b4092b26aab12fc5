// Only @diana/config reads the environment: the vendored driver takes no PG* variable (stock
// postgres.js falls back to PGHOST, PGPASSWORD, PGAPPNAME, ...), so a stray one on a machine
// cannot change where or how Diana connects. The same program against both drivers.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testPooler, useTestDatabase } from '@diana/test-services';
import { expect, it } from 'vitest';

const run = promisify(execFile);
const PROGRAM = fileURLToPath(new URL('./fixtures/env/app-name.mjs', import.meta.url));
// Through PgBouncer every test of this file is skipped (below), so nothing is made then: vitest
// runs no afterAll in a file whose tests are all skipped.
const pooled = testPooler() !== undefined;
const url = pooled ? '' : (await useTestDatabase('db-vendored-env')).url;
const appName = async (driver: string) => {
  const { stdout } = await run(process.execPath, [PROGRAM, url, driver], {
    timeout: 60_000,
    env: { PGAPPNAME: 'set-by-the-environment' }, // nothing else: the child sees only this
  });
  return (JSON.parse(stdout.trim()) as { application_name: string }).application_name;
};

// About the drivers' own start-up (raw postgres.js, prepared statements on): not a pool test, so
// not run through PgBouncer (DIANA_TEST_POOLER=pgbouncer).
it.skipIf(pooled)('stock postgres.js takes PGAPPNAME from the environment; @diana/postgres does not', async () => {
  expect(await appName('postgres')).toBe('set-by-the-environment'); // the variable really is seen
  expect(await appName('@diana/postgres')).toBe('postgres.js');
});
