// The README's config table says what ConfigManagerConfig does: every key, its default, its variable.
import { readFileSync } from 'node:fs';
import { configTableMismatches } from '@diana/test-services';
import { expect, it } from 'vitest';
import { ConfigManagerConfig } from '../src/manager-types.js';

it('the README lists every key of ConfigManagerConfig with its default', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(
    configTableMismatches(readme, ConfigManagerConfig, {
      heading: '### Config (`ConfigManagerConfig`',
      section: 'config',
    }),
  ).toEqual([]);
});
