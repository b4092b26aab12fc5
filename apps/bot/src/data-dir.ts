// What a data directory (or a file in it) that cannot be used is told as: the one line a failed
// start prints names the path, what is wrong with it and what to do, never a bare errno or stack.
import { resolve } from 'node:path';

/** A file-system error's code and path (`EEXIST`, `EACCES`, … and where). */
const fsError = (error: unknown) => {
  const { code, path } = (error ?? {}) as { code?: unknown; path?: unknown };
  return { code: typeof code === 'string' ? code : undefined, path: typeof path === 'string' ? path : undefined };
};

/**
 * Why the log file `file` could not be created or opened, and the fix: a file where a directory
 * should be (`EEXIST`, `ENOTDIR`), a directory where the file should be (`EISDIR`), or a place that
 * cannot be written (read-only, another owner's, missing). `variable` is the setting to change.
 */
export function logFileProblem(file: string, variable: string, error: unknown): string {
  const { code, path = file } = fsError(error);
  const where = resolve(path);
  const target = resolve(file);
  if (code === 'EEXIST' || code === 'ENOTDIR')
    return `the log file ${target} cannot be created: ${where} is a file, not a directory; set ${variable} to a directory, or move that file aside`;
  if (code === 'EISDIR')
    return `the log file ${target} is a directory; set ${variable} to another path, or move that directory aside`;
  return `the log file ${target} cannot be written (${code ?? (error as Error)?.message ?? 'unknown error'} on ${where}); set ${variable} to a path this user can write`;
}
