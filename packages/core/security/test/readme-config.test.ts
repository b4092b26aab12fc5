// The README's config table says what SecurityConfig does: every key, its default, its variable.
import { readFileSync } from 'node:fs';
import { configTableMismatches } from '@diana/test-services';
import { expect, it } from 'vitest';
import { SecurityConfig } from '../src/config.js';

it('the README lists every key of SecurityConfig with its default', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(
    configTableMismatches(readme, SecurityConfig, { heading: '## Config (`SecurityConfig`', section: 'security' }),
  ).toEqual([]);
});
