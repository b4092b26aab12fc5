import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanUpAfter } from './cleanup.js';

/**
 * A new empty folder under the system's temporary directory (`<prefix>XXXXXX`), removed with
 * what it holds when the test that asked for it ends; asked outside a test, after the file's
 * tests. Asked before what uses it starts, it is removed after that has stopped (vitest runs a
 * test's and a file's closing hooks last-registered first).
 */
export function useTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  cleanUpAfter(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
