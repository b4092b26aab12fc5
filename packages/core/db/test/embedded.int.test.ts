import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPostgresDocumentStore } from '../src/adapters/postgres.js';
import { EMBEDDED_LOCK_FILE, lockDirectory } from '../src/dir-lock.js';
import { createEmbeddedPostgres } from '../src/embedded.js';
import { migrate, migrationStatus } from '../src/migrate.js';
import { DB_MIGRATIONS } from '../src/migrations.js';
import type { Database } from '../src/postgres.js';
import { describeDocumentStore } from '../src/testing.js';
import { createUserRepository } from '../src/users.js';
import { describeUserRepository } from './users.shared.js';

const dir = mkdtempSync(join(tmpdir(), 'diana-pglite-'));
let db: Database;
beforeAll(async () => {
  db = await createEmbeddedPostgres({ dir });
  const result = await migrate(db, [DB_MIGRATIONS]);
  expect(result.applied).toEqual(['@diana/db/0001_users.sql', '@diana/db/0002_documents.sql']);
}, 180_000); // PGlite compiles its WebAssembly first: slow on a busy machine
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

describe('one process per embedded data directory', () => {
  const lockPath = () => join(dir, EMBEDDED_LOCK_FILE);

  it('refuses a second open of a directory in use, naming the process, and leaves the first working', async () => {
    expect(readFileSync(lockPath(), 'utf8').trim()).toBe(String(process.pid));
    const second = await createEmbeddedPostgres({ dir }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect(second).toMatchObject({ code: 'E_DB_LOCKED', context: { pid: process.pid } });
    expect(String((second as Error).message)).toContain(`in use by process ${process.pid}`);
    const [row] = await db.sql<{ one: number }[]>`select 1 as one`;
    expect(row?.one).toBe(1);
  });

  it('refuses a lock held by another live process', () => {
    const other = mkdtempSync(join(tmpdir(), 'diana-lock-'));
    try {
      // the parent of this process is alive for the whole test
      writeFileSync(join(other, EMBEDDED_LOCK_FILE), `${process.ppid}\n`);
      expect(() => lockDirectory(other)).toThrow(expect.objectContaining({ code: 'E_DB_LOCKED' }));
      expect(readFileSync(join(other, EMBEDDED_LOCK_FILE), 'utf8').trim()).toBe(String(process.ppid));
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('takes over the lock of a process that died, and releases it on close', async () => {
    const other = mkdtempSync(join(tmpdir(), 'diana-lock-'));
    try {
      const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']);
      const deadPid = Number(dead.stdout.toString());
      expect(() => process.kill(deadPid, 0)).toThrow(); // the fault: its owner is gone
      writeFileSync(join(other, EMBEDDED_LOCK_FILE), `${deadPid}\n`);
      const taken = await createEmbeddedPostgres({ dir: other });
      expect(readFileSync(join(other, EMBEDDED_LOCK_FILE), 'utf8').trim()).toBe(String(process.pid));
      await taken.close();
      expect(existsSync(join(other, EMBEDDED_LOCK_FILE))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  }, 60_000);

  it('takes over a lock naming this process that this process does not hold (a restarted container)', () => {
    const other = mkdtempSync(join(tmpdir(), 'diana-lock-'));
    try {
      writeFileSync(join(other, EMBEDDED_LOCK_FILE), `${process.pid}\n`);
      const lock = lockDirectory(other);
      expect(() => lockDirectory(other)).toThrow(expect.objectContaining({ code: 'E_DB_LOCKED' }));
      lock.release();
      lock.release();
      expect(existsSync(join(other, EMBEDDED_LOCK_FILE))).toBe(false);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});

/** Every path under `root` (itself included) with its permission bits. */
function modesUnder(root: string): { path: string; mode: number; dir: boolean }[] {
  const out: { path: string; mode: number; dir: boolean }[] = [];
  const pending = [root];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const stat = lstatSync(next);
    out.push({ path: next, mode: stat.mode & 0o7777, dir: stat.isDirectory() });
    if (stat.isDirectory()) for (const name of readdirSync(next)) pending.push(join(next, name));
  }
  return out;
}

function openToOthers(root: string): string[] {
  return modesUnder(root)
    .filter((entry) => (entry.mode & 0o077) !== 0)
    .map((entry) => `${entry.path} ${entry.mode.toString(8)}`);
}

describe('owner-only data directory', () => {
  it('leaves no group or other permission on the directory or anything in it, old files included', async () => {
    const parent = mkdtempSync(join(tmpdir(), 'diana-pglite-modes-'));
    const pgDir = join(parent, 'pg');
    try {
      // a directory left too open by an older version: 0755, a 0644 file, a 0777 subdirectory
      mkdirSync(join(pgDir, 'left-over'), { recursive: true });
      chmodSync(pgDir, 0o755);
      chmodSync(join(pgDir, 'left-over'), 0o777);
      writeFileSync(join(pgDir, 'left-over', 'notes'), 'x');
      chmodSync(join(pgDir, 'left-over', 'notes'), 0o644);

      let embedded = await createEmbeddedPostgres({ dir: pgDir });
      // the walk saw PGlite's initdb output (PGlite makes those files 0666)
      expect(modesUnder(pgDir).filter((entry) => !entry.dir).length).toBeGreaterThan(500);
      expect(openToOthers(pgDir)).toEqual([]);
      expect(lstatSync(pgDir).mode & 0o777).toBe(0o700);
      expect(lstatSync(join(pgDir, 'left-over', 'notes')).mode & 0o777).toBe(0o600);

      // files created while running (a table's relation files) are owner-only too
      await embedded.sql`create table modes_probe (v text)`;
      await embedded.sql`insert into modes_probe values ('secret row')`;
      await embedded.close();
      expect(openToOthers(pgDir)).toEqual([]);

      // a file opened up between runs is tightened at the next open
      const dataFile = modesUnder(pgDir).find((entry) => !entry.dir && entry.path.includes('base'));
      expect(dataFile).toBeDefined();
      chmodSync(dataFile?.path as string, 0o666);
      embedded = await createEmbeddedPostgres({ dir: pgDir });
      expect(openToOthers(pgDir)).toEqual([]);
      const [row] = await embedded.sql<{ v: string }[]>`select v from modes_probe`;
      expect(row?.v).toBe('secret row');
      await embedded.close();
    } finally {
      rmSync(parent, { recursive: true, force: true });
    }
  }, 120_000);
});
