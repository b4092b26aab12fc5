// A loop that retries a failing call (a stream read, an outbox pass) through an outage would log
// a warning at every retry: dozens of lines for one outage, from every loop. A failure streak
// logs the first failure as a warning, the repeats at debug, a warning again each `repeat_ms`
// while the failures go on, and one info line when a call works again. With `settle_ms`, calls
// that fail and work by turns (one Redis Cluster master down: its keys fail, the others' work)
// stay one outage instead of a warning and a recovery line at each turn.
import { type Clock, SYSTEM_CLOCK } from './clock.js';
import type { Logger } from './logger.js';

export interface FailureStreakOptions {
  readonly logger: Logger;
  /** The warning's message, e.g. `'read failed; retrying'`. */
  readonly message: string;
  /** The info line when a call works after failures, e.g. `'reads work again'` (none when left out). */
  readonly recovered?: string;
  /** On each of its lines, e.g. `{ group }`. */
  readonly fields?: Readonly<Record<string, unknown>>;
  /** While the failures go on, a warning again after this long. @default 60000 */
  readonly repeat_ms?: number;
  /**
   * A call that works ends the outage (its info line; the next failure warns again) only when
   * no failure came within this long before it. @default 0
   */
  readonly settle_ms?: number;
  readonly clock?: Clock;
  /**
   * What a failure means, when the error's own text would send the reader elsewhere (a Redis
   * out of memory read as unreachable): its sentence goes on each failure line as `reason`.
   */
  readonly explain?: (error: unknown) => string | undefined;
}

/** The failures in a row of one retrying loop, and their log lines. */
export interface FailureStreak {
  /** The failures since the last success (a loop's backoff and health). */
  readonly failures: number;
  /**
   * Counts one more failure and logs it (with `err`, unless `error` is undefined, `extra`, and
   * `failures`: the outage's so far); returns the failures in a row.
   */
  failed(error: unknown, extra?: Readonly<Record<string, unknown>>): number;
  /**
   * A call worked: the failures in a row are 0, and the outage ends (its info line with
   * `failures` and `failing_ms`, if `recovered` is set) unless a failure came within `settle_ms`.
   */
  succeeded(): void;
}

/** A failure streak for one retrying loop (see `FailureStreakOptions`). */
export function createFailureStreak(options: FailureStreakOptions): FailureStreak {
  const { logger, message, recovered, fields } = options;
  const repeatMs = options.repeat_ms ?? 60_000;
  const settleMs = options.settle_ms ?? 0;
  const clock = options.clock ?? SYSTEM_CLOCK;
  let failures = 0; // in a row
  let outageFailures = 0; // since the outage's first warning
  let outageAt: number | undefined; // its first failure: undefined between outages
  let warnedAt = 0;
  let failedAt = 0;
  return {
    get failures() {
      return failures;
    },
    failed(error, extra) {
      failures++;
      outageFailures++;
      const now = clock.now();
      failedAt = now;
      const reason = error === undefined ? undefined : options.explain?.(error);
      const line = {
        ...(error === undefined ? {} : { err: error }),
        ...(reason === undefined ? {} : { reason }),
        ...fields,
        ...extra,
        failures: outageFailures,
      };
      if (outageAt === undefined) {
        outageAt = now;
        warnedAt = now;
        logger.warn(line, message);
      } else if (now - warnedAt >= repeatMs) {
        warnedAt = now;
        logger.warn({ ...line, failing_ms: now - outageAt }, message);
      } else {
        logger.debug(line, message);
      }
      return failures;
    },
    succeeded() {
      failures = 0;
      if (outageAt === undefined) return;
      const now = clock.now();
      if (now - failedAt < settleMs) return;
      if (recovered !== undefined)
        logger.info({ ...fields, failures: outageFailures, failing_ms: now - outageAt }, recovered);
      outageAt = undefined;
      outageFailures = 0;
    },
  };
}
