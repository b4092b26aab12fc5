// The README's config table says what CacheConfig does: every key, its default, its variable.
import { readFileSync } from 'node:fs';
import { configTableMismatches } from '@diana/test-services';
import { expect, it } from 'vitest';
import { CacheConfig } from '../src/config.js';

it('the README lists every key of CacheConfig with its default', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(configTableMismatches(readme, CacheConfig, { heading: '## Config (`CacheConfig`', section: 'cache' })).toEqual(
    [],
  );
});
