import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { isDianaError, packageFiles } from '../src/index.js';

const root = mkdtempSync(join(tmpdir(), 'diana-package-files-'));
mkdirSync(join(root, 'migrations', 'nested'), { recursive: true });
writeFileSync(join(root, 'migrations', '0002_b.sql'), 'select 2;');
writeFileSync(join(root, 'migrations', '0001_a.sql'), 'select 1;');
writeFileSync(join(root, 'migrations', 'notes.md'), 'not a migration');
const rootUrl = pathToFileURL(`${root}/`);
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('packageFiles', () => {
  it('reads the folders from disk when nothing is embedded', () => {
    const files = packageFiles(rootUrl, () => undefined);
    expect(files.embedded).toBe(false);
    expect(files.path('migrations')).toBe(join(root, 'migrations'));
    expect(files.read('migrations/0001_a.sql')).toBe('select 1;');
    expect(files.folder('migrations', '.sql')).toEqual({ '0001_a.sql': 'select 1;', '0002_b.sql': 'select 2;' });
    expect(Object.keys(files.folder('migrations', '.sql'))).toEqual(['0001_a.sql', '0002_b.sql']);
  });

  it('serves embedded files without touching the disk, in name order, one folder deep', () => {
    const files = packageFiles(new URL('file:///nowhere/'), () => ({
      'migrations/0002_b.sql': 'B',
      'migrations/0001_a.sql': 'A',
      'migrations/deeper/0003_c.sql': 'C',
      'lua/x.lua': 'return 1',
    }));
    expect(files.embedded).toBe(true);
    expect(files.read('lua/x.lua')).toBe('return 1');
    expect(Object.entries(files.folder('migrations', '.sql'))).toEqual([
      ['0001_a.sql', 'A'],
      ['0002_b.sql', 'B'],
    ]);
    expect(files.path('lua/x.lua')).toBe('/nowhere/lua/x.lua');
  });

  it('reads from disk when the build defined nothing (a ReferenceError from source)', () => {
    const files = packageFiles(rootUrl, () => {
      throw new ReferenceError('__DIANA_FILES__ is not defined');
    });
    expect(files.embedded).toBe(false);
    expect(files.read('migrations/0002_b.sql')).toBe('select 2;');
    expect(() =>
      packageFiles(rootUrl, () => {
        throw new TypeError('a real bug');
      }),
    ).toThrow('a real bug');
  });

  it('names the missing file with E_UTILS_PACKAGE_FILE, embedded or not', () => {
    for (const files of [packageFiles(rootUrl, () => undefined), packageFiles(rootUrl, () => ({}))]) {
      let caught: unknown;
      try {
        files.read('lua/missing.lua');
      } catch (error) {
        caught = error;
      }
      expect(isDianaError(caught, 'E_UTILS_PACKAGE_FILE')).toBe(true);
      expect((caught as Error).message).toContain('lua/missing.lua');
    }
    expect(() => packageFiles(rootUrl, () => undefined).folder('story', '.json')).toThrow(
      /story is not in the package/,
    );
  });
});
