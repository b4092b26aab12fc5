// A loop that retries a failing call (a stream read, an outbox pass) through an outage would log
// a warning at every retry: dozens of lines for one outage, from every loop. A failure streak
// logs the first failure as a warning, the repeats at debug, a warning again each `repeat_ms`
// while the failures go on, and one info line when a call works again.
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
  readonly clock?: Clock;
}

/** The failures in a row of one retrying loop, and their log lines. */
export interface FailureStreak {
  /** The failures since the last success. */
  readonly failures: number;
  /**
   * Counts one more failure and logs it (with `err`, unless `error` is undefined, `failures` and
   * `extra`); returns the count.
   */
  failed(error: unknown, extra?: Readonly<Record<string, unknown>>): number;
  /** A call worked: ends the streak, with an info line (`failures`, `failing_ms`) if there was one and `recovered` is set. */
  succeeded(): void;
}

/** A failure streak for one retrying loop (see `FailureStreakOptions`). */
export function createFailureStreak(options: FailureStreakOptions): FailureStreak {
  const { logger, message, recovered, fields } = options;
  const repeatMs = options.repeat_ms ?? 60_000;
  const clock = options.clock ?? SYSTEM_CLOCK;
  let failures = 0;
  let firstAt = 0;
  let warnedAt = 0;
  return {
    get failures() {
      return failures;
    },
    failed(error, extra) {
      failures++;
      const now = clock.now();
      if (failures === 1) firstAt = now;
      const line = { ...(error === undefined ? {} : { err: error }), ...fields, ...extra, failures };
      if (failures === 1 || now - warnedAt >= repeatMs) {
        warnedAt = now;
        logger.warn(failures === 1 ? line : { ...line, failing_ms: now - firstAt }, message);
      } else {
        logger.debug(line, message);
      }
      return failures;
    },
    succeeded() {
      if (failures === 0) return;
      if (recovered !== undefined) logger.info({ ...fields, failures, failing_ms: clock.now() - firstAt }, recovered);
      failures = 0;
    },
  };
}
