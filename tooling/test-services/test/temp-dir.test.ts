import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, onTestFinished } from 'vitest';
import { useTempDir } from '../src/temp-dir.js';

describe('useTempDir', () => {
  let inTest = '';
  let seenByLaterHook: boolean | undefined;

  it('asked in a test: removed with its files when the test ends, after what was registered later', () => {
    inTest = useTempDir('diana-temp-test-');
    writeFileSync(join(inTest, 'bot.log'), 'x');
    expect(existsSync(join(inTest, 'bot.log'))).toBe(true);
    // registered after the folder, like a bot's close: it still sees the folder
    onTestFinished(() => {
      seenByLaterHook = existsSync(inTest);
    });
  });

  it('(the folder of the test before is gone)', () => {
    expect(seenByLaterHook).toBe(true);
    expect(inTest).not.toBe('');
    expect(existsSync(inTest)).toBe(false);
  });
});

const atTop = useTempDir('diana-temp-file-');
afterAll(() => {
  // registered after the folder: runs before its removal
  expect(existsSync(atTop)).toBe(true);
});
it('asked outside a test: there for every test of the file', () => {
  expect(existsSync(atTop)).toBe(true);
});
