import { setTimeout as delay } from 'node:timers/promises';

/** The source of "now" every time-dependent factory takes as `deps.clock`. */
export interface Clock {
  /** Epoch milliseconds. */
  now(): number;
}

/** The real clock. */
export const SYSTEM_CLOCK: Clock = Object.freeze({ now: () => Date.now() });

/** A clock that moves only when told: for tests of expiry, cooldowns and schedules. */
export interface ManualClock extends Clock {
  set(epochMs: number): void;
  advance(ms: number): void;
}

/** A manual clock starting at `startMs` (epoch ms). */
export function createManualClock(startMs = 0): ManualClock {
  let current = startMs;
  return {
    now: () => current,
    set: (epochMs) => {
      current = epochMs;
    },
    advance: (ms) => {
      current += ms;
    },
  };
}

/** Waits `ms`; rejects with the signal's reason as soon as `signal` aborts. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  try {
    await delay(ms, undefined, signal ? { signal } : undefined);
  } catch (error) {
    throw signal?.aborted ? signal.reason : error;
  }
}
