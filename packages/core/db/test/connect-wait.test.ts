// The pauses of a statement waiting for a server that is down (connect_wait_ms), on a clock the
// test moves: the last try comes right at the end of the wait, never before it gives up.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { connectWait, type QueryTracker } from '../src/instrument.js';

describe('connectWait', () => {
  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('pauses 100 ms doubling to at most 1 s, the last try right at connect_wait_ms, then gives up', () => {
    let now = 10_000;
    vi.spyOn(performance, 'now').mockImplementation(() => now);
    for (const wait of [600, 1_500, 8_000]) {
      const since = now;
      const pause = connectWait({ connectWaitMs: wait } as unknown as QueryTracker, since);
      const tries: number[] = [];
      for (let delay = pause(); delay !== undefined; delay = pause()) {
        expect(delay).toBeGreaterThan(0);
        expect(delay).toBeLessThanOrEqual(1_000);
        now += delay;
        tries.push(now - since);
      }
      // before: it gave up once the next pause would end past the wait, up to a second early
      expect(tries.at(-1), `wait ${wait}`).toBe(wait);
      expect(tries.length).toBeGreaterThan(1);
    }
  });
});
