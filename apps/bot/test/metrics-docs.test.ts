// What the docs say `diana.bot.updates` counts is what the code records: docs/metrics.md left out
// `in_progress` (the bot README had it).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { UPDATE_OUTCOMES } from '../src/metrics.js';

const row = (file: string) => {
  const text = readFileSync(new URL(file, import.meta.url), 'utf8');
  const line = text.split('\n').find((l) => l.startsWith('| `diana.bot.updates`'));
  expect(line, `${file} has a diana.bot.updates row`).toBeDefined();
  return line as string;
};

describe('diana.bot.updates outcomes in the docs', () => {
  it.each(['../../../docs/metrics.md', '../README.md'])('%s lists every outcome the code records', (file) => {
    const line = row(file);
    for (const outcome of UPDATE_OUTCOMES) expect(line, outcome).toContain(`\`${outcome}\``);
  });
});
