import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoffDelay, createBackoff, retry } from '../src/retry.js';

const jitter = fc.constantFrom('none', 'half', 'full', 'decorrelated') as fc.Arbitrary<
  'none' | 'half' | 'full' | 'decorrelated'
>;

describe('backoff', () => {
  it('never waits less than zero or more than max_ms, for any settings and attempt', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.integer({ min: 1, max: 40 }),
        jitter,
        (base_ms, max_ms, attempts, j) => {
          const next = createBackoff({ base_ms, max_ms, jitter: j });
          for (let i = 0; i < attempts; i++) {
            const delay = next();
            expect(delay).toBeGreaterThanOrEqual(0);
            expect(delay).toBeLessThanOrEqual(max_ms);
            expect(Number.isInteger(delay)).toBe(true);
          }
        },
      ),
    );
  });

  it('stays within [d/2, d] of the exponential delay d with half jitter', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1000 }), fc.integer({ min: 1, max: 12 }), (base_ms, attempt) => {
        const max_ms = 1_000_000;
        const exact = Math.min(max_ms, base_ms * 2 ** (attempt - 1));
        const delay = backoffDelay(attempt, { base_ms, max_ms, jitter: 'half' });
        expect(delay).toBeGreaterThanOrEqual(Math.floor(exact / 2));
        expect(delay).toBeLessThanOrEqual(exact);
        expect(backoffDelay(attempt, { base_ms, max_ms, jitter: 'none' })).toBe(exact);
      }),
    );
  });
});

describe('retry', () => {
  it('retries until success and reports each wait', async () => {
    const waits: number[] = [];
    let calls = 0;
    const value = await retry(
      async (attempt) => {
        calls++;
        if (attempt < 3) throw new Error(`fail ${attempt}`);
        return 'ok';
      },
      { max_attempts: 5, base_ms: 1, max_ms: 5, onRetry: ({ delay_ms }) => waits.push(delay_ms) },
    );
    expect(value).toBe('ok');
    expect(calls).toBe(3);
    expect(waits).toHaveLength(2);
  });

  it('gives up after max_attempts with the last error', async () => {
    let calls = 0;
    await expect(
      retry(
        () => {
          calls++;
          throw new Error(`boom ${calls}`);
        },
        { max_attempts: 3, base_ms: 1, max_ms: 2 },
      ),
    ).rejects.toThrow('boom 3');
    expect(calls).toBe(3);
  });

  it('does not retry what shouldRetry refuses', async () => {
    let calls = 0;
    await expect(
      retry(
        () => {
          calls++;
          throw new Error('fatal');
        },
        { max_attempts: 5, base_ms: 1, shouldRetry: () => false },
      ),
    ).rejects.toThrow('fatal');
    expect(calls).toBe(1);
  });

  it('stops waiting as soon as the signal aborts', async () => {
    const controller = new AbortController();
    const started = performance.now();
    const pending = retry(
      () => {
        queueMicrotask(() => controller.abort(new Error('shutting down')));
        throw new Error('transient');
      },
      { max_attempts: 10, base_ms: 60_000, max_ms: 60_000, jitter: 'none', signal: controller.signal },
    );
    await expect(pending).rejects.toThrow('shutting down');
    // it did not sit out the 60 s backoff
    expect(performance.now() - started).toBeLessThan(5_000);
  });
});
