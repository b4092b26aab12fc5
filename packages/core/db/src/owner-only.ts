// The embedded data directory holds the whole database: no other user of the machine may read
// it. PGlite writes its initdb files with an explicit mode 0666 (measured: 968 of 1,076 files),
// so the process umask does not help for them (under umask 077 they are still 0666; only
// directories follow it), and setting the umask would change every file the process creates
// meanwhile (log files, other modules) and is unsupported in worker threads. Instead the
// directory is made 0700 before anything is written into it, and every file and directory in
// it is tightened at open (files left by older versions or other tools), after PGlite's
// initdb, and at close. Between those walks the 0700 directory keeps other users out of
// whatever is inside.
import { chmodSync, lstatSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const GROUP_AND_OTHER = 0o077;

/** Creates `dir` if missing (0700) and makes it owner-only; returns how many modes changed. */
export function ensureOwnerOnlyDirectory(dir: string): number {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return restrictToOwner(dir);
}

/**
 * Removes every group and other permission bit from `path` and, for a directory, from
 * everything below it (files 0600, directories 0700 for the usual modes). Symbolic links are
 * neither followed nor changed. Returns how many modes changed.
 */
export function restrictToOwner(path: string): number {
  let changed = 0;
  const pending = [path];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    let stat: ReturnType<typeof lstatSync>;
    try {
      stat = lstatSync(next);
    } catch (error) {
      // removed meanwhile (PGlite drops temporary files)
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (stat.isSymbolicLink()) continue;
    if ((stat.mode & GROUP_AND_OTHER) !== 0) {
      chmodSync(next, stat.mode & 0o7700 & ~GROUP_AND_OTHER);
      changed++;
    }
    if (stat.isDirectory()) for (const name of readdirSync(next)) pending.push(join(next, name));
  }
  return changed;
}
