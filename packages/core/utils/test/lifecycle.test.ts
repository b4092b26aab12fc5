import { describe, expect, it } from 'vitest';
import { createCloser } from '../src/lifecycle.js';

describe('createCloser', () => {
  it('runs the close body once and shares one promise', async () => {
    let runs = 0;
    const closer = createCloser(async () => {
      runs++;
    });
    expect(closer.closed).toBe(false);
    const first = closer.close();
    const second = closer.close();
    expect(second).toBe(first);
    await first;
    await closer[Symbol.asyncDispose]();
    expect(runs).toBe(1);
    expect(closer.closed).toBe(true);
  });

  it('works with await using', async () => {
    let closed = false;
    {
      await using resource = createCloser(() => {
        closed = true;
      });
      expect(resource.closed).toBe(false);
    }
    expect(closed).toBe(true);
  });
});
