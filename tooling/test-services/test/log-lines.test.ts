import { describe, expect, it } from 'vitest';
import { captureLogLines } from '../src/log-lines.js';

describe('captureLogLines', () => {
  it('keeps each JSON line written, parsed (one write may carry several)', () => {
    const { destination, lines } = captureLogLines();
    destination.write('{"level":"warn","msg":"a","n":1}\n');
    destination.write('{"level":"info","msg":"b"}\n{"level":"debug","msg":"c"}\n');
    expect(lines).toEqual([
      { level: 'warn', msg: 'a', n: 1 },
      { level: 'info', msg: 'b' },
      { level: 'debug', msg: 'c' },
    ]);
  });
});
