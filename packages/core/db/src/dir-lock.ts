// One process per embedded data directory: PGlite has no lock of its own, and two processes
// writing one directory corrupt it. A lock file holds the owner's pid; a lock whose process is
// gone (a crash, a SIGKILL, a container restarted with the same pid) is taken over.
import { linkSync, readFileSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DianaError } from '@diana/utils';
import { DB_ERROR_CODES } from './errors.js';

/** The lock file's name inside the data directory. */
export const EMBEDDED_LOCK_FILE = 'diana.lock';

/** A held directory lock. */
export interface DirectoryLock {
  readonly path: string;
  /** Removes the lock file if it is still ours (idempotent). */
  release(): void;
}

// Directories this process holds: a lock with our own pid that is not here is stale.
const held = new Set<string>();

/**
 * Takes `dir`'s lock or throws `E_DB_LOCKED` naming the process that holds it.
 * `dir` must exist.
 */
export function lockDirectory(dir: string): DirectoryLock {
  const path = join(dir, EMBEDDED_LOCK_FILE);
  if (held.has(path)) throw lockedError(path, process.pid);
  for (let attempt = 0; attempt < 3; attempt++) {
    if (tryCreate(path)) {
      held.add(path);
      let released = false;
      return {
        path,
        release() {
          if (released) return;
          released = true;
          held.delete(path);
          if (readOwner(path) === process.pid) rmSync(path, { force: true });
        },
      };
    }
    const owner = readOwner(path);
    if (owner !== undefined && owner !== process.pid && isAlive(owner)) throw lockedError(path, owner);
    takeOverStale(path, owner);
  }
  throw lockedError(path, readOwner(path));
}

/** Atomically creates the lock file with our pid; false if one exists. */
function tryCreate(path: string): boolean {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, `${process.pid}\n`, { mode: 0o600 });
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    rmSync(temp, { force: true });
  }
}

/**
 * Removes a stale lock only if it still names the dead owner: another process may have taken it
 * over between our read and now, and its fresh lock must survive.
 */
function takeOverStale(path: string, staleOwner: number | undefined): void {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  if (readOwner(aside) === staleOwner) {
    unlinkSync(aside);
    return;
  }
  // not the lock we judged: put it back (fails only if yet another process created one meanwhile)
  try {
    linkSync(aside, path);
  } finally {
    rmSync(aside, { force: true });
  }
}

function readOwner(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim(), 10);
    return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to another user
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lockedError(path: string, owner: number | undefined): DianaError {
  return new DianaError(
    DB_ERROR_CODES.LOCKED,
    `the embedded database is in use by process ${owner ?? '?'} (lock ${path}): stop that process, or set another data directory; if no such process runs, delete the lock file`,
    { context: { lock: path, ...(owner !== undefined ? { pid: owner } : {}) } },
  );
}
