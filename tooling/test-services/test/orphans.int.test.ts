// What a test process leaves when it ends without its cleanup (a `-t` filter skips a file's
// afterAll; vitest ends its workers with SIGTERM): the sweeps find it by its maker's pid.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import postgres from '@diana/postgres';
import { sweepOrphanRedis } from '@diana/vitest-config/orphans';
import { afterAll, describe, expect, it } from 'vitest';
import { getPostgresUrl, startRedis, startWorker, useTestDatabase } from '../src/index.js';
import { sweepTestDatabases } from '../src/postgres.js';

const admin = postgres(await getPostgresUrl(), { max: 1, onnotice: () => {} });
afterAll(() => admin.end());
const exists = async (name: string) => (await admin`select 1 from pg_database where datname = ${name}`).length === 1;
const running = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('orphans of a test process that ended without its cleanup', () => {
  it('its database and redis-server are swept; those of a live process stay', async () => {
    const mine = await useTestDatabase('orphans mine');
    const myRedis = await startRedis();
    const worker = startWorker(fileURLToPath(new URL('./fixtures/orphan-maker.ts', import.meta.url)));
    const made = await worker.waitFor('made', 30_000);
    await worker.exited();
    const database = String(made.database);
    const pid = Number(made.redis_pid);
    // the fault: its maker is gone, and both outlived it
    expect(await exists(database)).toBe(true);
    expect(running(pid)).toBe(true);

    // swept here, or a moment before by another package's test process starting (each sweeps
    // at its start: CI saw this sweep find nothing left to kill); either way it ends below
    sweepOrphanRedis();
    await sweepTestDatabases();
    expect(await exists(database)).toBe(false);
    const deadline = Date.now() + 5_000;
    while (running(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(running(pid)).toBe(false);
    expect(existsSync(String(made.dir))).toBe(false);
    // this process's own are left alone
    expect(await exists(mine.name)).toBe(true);
    expect(running(myRedis.pid as number)).toBe(true);
    await myRedis.stop();
  });
});
