// The array-types query each new connection runs first (`fetch_types`, on by default), ended by
// a cancel or by its session's termination: stock postgres.js 3.4.9 dropped its promise, so the
// process died of an unhandled rejection (porsager/postgres#1192, #1205, #1223; a helper's two
// bot processes lost one of them in each termination wave on a busy machine). The same program,
// in a child process, against stock and ours.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { testPooler, useTestDatabase } from '@diana/test-services';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const PROGRAM = fileURLToPath(new URL('./fixtures/fetch-types/ended.mjs', import.meta.url));
// Through PgBouncer the backend and its lock belong to the pooler's sessions: skipped (nothing made)
const pooled = testPooler() !== undefined;
const url = pooled ? '' : (await useTestDatabase('db-fetch-types')).url;

const child = (driver: string, mode: 'cancel' | 'terminate') =>
  run(process.execPath, [PROGRAM, url, driver, mode], { timeout: 60_000 }).then(
    ({ stdout }) => ({ code: 0, stdout, stderr: '' }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );

describe.skipIf(pooled)("a new connection's types query, ended", () => {
  it('kills the process on stock postgres.js 3.4.9 (the defect is real here)', async () => {
    const stock = await child('postgres', 'cancel');
    expect(stock.code).not.toBe(0);
    expect(stock.stderr).toContain('canceling statement due to user request');
    expect(stock.stdout).toBe('');
  });

  for (const driver of ['@diana/postgres', '@diana/db'])
    for (const mode of ['cancel', 'terminate'] as const)
      it(`${driver}, ${mode}: the process lives, the query that opened the connection is answered, the pool serves the next`, async () => {
        const ours = await child(driver, mode);
        expect(ours.stderr).toBe('');
        expect(ours.code).toBe(0);
        // ended: the fault happened (the types query was found waiting on the lock and ended)
        expect(JSON.parse(ours.stdout.trim())).toEqual({ ok: true, ended: true, first: 'answered', next: 1 });
      });
});
