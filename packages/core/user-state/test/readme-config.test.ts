// The README's config table says what UserStateConfig does: every key, its default, its variable.
import { readFileSync } from 'node:fs';
import { configTableMismatches } from '@diana/test-services';
import { expect, it } from 'vitest';
import { UserStateConfig } from '../src/config.js';

it('the README lists every key of UserStateConfig with its default', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(
    configTableMismatches(readme, UserStateConfig, { heading: '## Config (`UserStateConfig`', section: 'user_state' }),
  ).toEqual([]);
});
