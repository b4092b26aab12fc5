// The README's config table says what EventBusConfig does: every key, its default, its variable.
import { readFileSync } from 'node:fs';
import { configTableMismatches } from '@diana/test-services';
import { expect, it } from 'vitest';
import { EventBusConfig } from '../src/config.js';

it('the README lists every key of EventBusConfig with its default', () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  expect(
    configTableMismatches(readme, EventBusConfig, { heading: '## Config (`EventBusConfig`', section: 'event_bus' }),
  ).toEqual([]);
});
