import { describe, expect, it } from 'vitest';
import { createManualClock, SYSTEM_CLOCK, sleep } from '../src/clock.js';

describe('clock', () => {
  it('moves a manual clock only when told', () => {
    const clock = createManualClock(1000);
    expect(clock.now()).toBe(1000);
    clock.advance(500);
    expect(clock.now()).toBe(1500);
    clock.set(10);
    expect(clock.now()).toBe(10);
  });

  it('reads the system time', () => {
    const before = Date.now();
    const now = SYSTEM_CLOCK.now();
    expect(now).toBeGreaterThanOrEqual(before);
  });

  it('lets an abort cut a sleep short', async () => {
    const controller = new AbortController();
    const pending = sleep(60_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(pending).rejects.toThrow();
  });
});
