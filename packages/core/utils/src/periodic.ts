// A chore that runs every interval in the background (a retention prune, the admin jobs): one
// run at a time, the next an interval after the last one ended (a slow run never piles up), and a
// run that fails is counted on its failure streak (one warning per outage) and tried at the next
// interval. Stopping ends the pause at once and waits for a run under way; a run that fails
// because it was stopped (the pool closing under it) is not reported. The pause does not keep
// the process alive on its own.
import { setTimeout as delay } from 'node:timers/promises';
import type { FailureStreak } from './failure-streak.js';

export interface PeriodicOptions {
  /** The pause before each run, the first one included. */
  readonly interval_ms: number;
  /** Stops the runs; also handed to each run, to end it early. */
  readonly signal: AbortSignal;
  /** Where a failing run is counted and logged, and a working one ends the outage. */
  readonly failures: FailureStreak;
}

/**
 * Runs `run` every `interval_ms` until `signal` aborts; resolves once it has stopped (after a run
 * under way). Never rejects.
 */
export async function runPeriodically(
  options: PeriodicOptions,
  run: (signal: AbortSignal) => Promise<unknown>,
): Promise<void> {
  const { signal, failures } = options;
  while (!signal.aborted) {
    await delay(options.interval_ms, undefined, { signal, ref: false }).catch(() => {});
    if (signal.aborted) return;
    try {
      await run(signal);
      failures.succeeded();
    } catch (error) {
      if (signal.aborted) return;
      failures.failed(error);
    }
  }
}
