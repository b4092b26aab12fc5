import { describe, expect, it } from 'vitest';
import { createCloser, waitWithin } from '../src/lifecycle.js';

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

  it("gives the body the first call's options; a later call joins that close", async () => {
    const seen: Array<number | undefined> = [];
    const closer = createCloser(({ timeout_ms }) => {
      seen.push(timeout_ms);
    });
    await Promise.all([closer.close({ timeout_ms: 250 }), closer.close({ timeout_ms: 9_000 }), closer.close()]);
    expect(seen).toEqual([250]);
  });
});

describe('waitWithin', () => {
  it('gives up on work that never settles once the time is up', async () => {
    const started = performance.now();
    await waitWithin(new Promise(() => {}), 30);
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
  });

  it('resolves as soon as the work does, and rejects with its error', async () => {
    let done = false;
    await waitWithin(
      Promise.resolve().then(() => {
        done = true;
      }),
      60_000,
    );
    expect(done).toBe(true);
    await expect(waitWithin(Promise.reject(new Error('boom')), 60_000)).rejects.toThrow('boom');
    await expect(waitWithin(Promise.reject(new Error('boom')), undefined)).rejects.toThrow('boom');
  });
});
