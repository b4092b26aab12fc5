import { isDianaError } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { importOptional } from '../src/optional.js';

const absent = '@diana/no-such-optional-package';

describe('importOptional', () => {
  it('names the packages to install when the optional one is missing', async () => {
    const specifier = absent; // a variable: the type checker does not look for it
    const error = await importOptional(
      absent,
      'createEmbeddedPostgres',
      [absent, 'other-pkg'],
      () => import(specifier),
    ).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_DB_OPTIONAL_DEPENDENCY')).toBe(true);
    expect((error as Error).message).toBe(
      `createEmbeddedPostgres needs ${absent} and other-pkg (optional peer dependencies of @diana/db), not installed: npm install ${absent} other-pkg`,
    );
    expect((error as { context: unknown }).context).toEqual({ package: absent, install: [absent, 'other-pkg'] });
  });

  it('returns the module when it is installed, and lets other failures through unchanged', async () => {
    const mongodb = await importOptional('mongodb', 'createMongo', ['mongodb'], () => import('mongodb'));
    expect(typeof mongodb.MongoClient).toBe('function');
    const boom = new Error('a bug inside the package');
    await expect(importOptional('mongodb', 'createMongo', ['mongodb'], () => Promise.reject(boom))).rejects.toBe(boom);
  });
});
