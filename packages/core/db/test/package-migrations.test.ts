import { packageFiles } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { DB_MIGRATIONS, loadMigrations, packageMigrations } from '../src/index.js';

describe('packageMigrations', () => {
  it('uses the embedded files and never reads the folder', () => {
    const source = packageMigrations(
      '@x/pkg',
      packageFiles(new URL('file:///does/not/exist/'), () => ({
        'migrations/0002_b.sql': 'select 2;',
        'migrations/0001_a.sql': 'select 1;',
        'lua/x.lua': 'return 1',
      })),
    );
    expect(source.directory).toBe('/does/not/exist/migrations');
    const loaded = loadMigrations([source]);
    expect(loaded.map((m) => [m.source, m.name, m.sql])).toEqual([
      ['@x/pkg', '0001_a.sql', 'select 1;'],
      ['@x/pkg', '0002_b.sql', 'select 2;'],
    ]);
  });

  it('reads the folder from source, with the same checksums as the embedded copy', () => {
    expect(DB_MIGRATIONS.files).toBeUndefined();
    const fromDisk = loadMigrations([DB_MIGRATIONS]);
    expect(fromDisk.map((m) => m.name)).toEqual(['0001_users.sql', '0002_documents.sql']);
    const embedded = Object.fromEntries(fromDisk.map((m) => [`migrations/${m.name}`, m.sql]));
    const copy = loadMigrations([
      packageMigrations(
        '@diana/db',
        packageFiles(new URL('file:///x/'), () => embedded),
      ),
    ]);
    expect(copy.map((m) => m.checksum)).toEqual(fromDisk.map((m) => m.checksum));
  });
});
