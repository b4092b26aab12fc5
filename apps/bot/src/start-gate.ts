// Start-up waits: each backend (PostgreSQL, Redis, MongoDB, the Telegram API) is probed until it
// answers, with one log line per failed attempt, until one shared start deadline. Past it, start
// fails with one line naming what did not answer — never a silent hang, never a half-started bot.
// An answer that waiting cannot change (a refused token, a database the server does not have)
// ends the start at once, with the same kind of line.
import { createBackoff, DianaError, isDianaError, type Logger, sleep } from '@diana/utils';
import { BOT_ERROR_CODES } from './errors.js';

/** What start is doing now, for `/readyz` and the logs. */
export interface StartGate {
  /** The dependency being waited for, if any. */
  readonly waiting: string | undefined;
  /**
   * Probes `probe` until it resolves; rejects with `E_BOT_START_TIMEOUT` once the deadline passes,
   * or at once with `E_BOT_START_FAILED` when a failure is `final`.
   */
  waitFor<T>(dependency: string, probe: (signal: AbortSignal) => Promise<T>, options?: WaitForOptions): Promise<T>;
}

/** Options of one `waitFor`. */
export interface WaitForOptions {
  /** A failure no wait can heal (it needs another setting): start ends at once. @default none */
  readonly final?: (error: unknown) => boolean;
}

/** Options of `createStartGate`. */
export interface StartGateOptions {
  /** The whole start's budget, from the gate's creation. */
  readonly start_timeout_ms: number;
  /** One probe's budget (a backend that does not answer at all). @default 5_000 */
  readonly attempt_timeout_ms?: number;
  readonly logger: Logger;
  /** Called when `dependency` first fails to answer in a `waitFor`, with why (the console says so to the user). */
  readonly onWait?: (dependency: string, reason: string) => void;
}

/** A gate whose deadline starts now. */
export function createStartGate(options: StartGateOptions): StartGate {
  const deadline = Date.now() + options.start_timeout_ms;
  const attemptTimeout = options.attempt_timeout_ms ?? 5_000;
  let waiting: string | undefined;
  return {
    get waiting() {
      return waiting;
    },
    async waitFor(dependency, probe, waitOptions = {}) {
      const nextDelay = createBackoff({ base_ms: 250, max_ms: 3_000 });
      // the last failure that said why (a refused connection, a missing database): once a driver
      // stops answering at all (its own backoff between reconnects), every attempt only times out,
      // and the line that ends the start must still name the cause
      let cause: string | undefined;
      // what the attempt before said: an attempt the start deadline cuts short says nothing new
      let previous: string | undefined;
      for (let attempt = 1; ; attempt++) {
        const left = deadline - Date.now();
        const cutByDeadline = left < attemptTimeout;
        const signal = AbortSignal.timeout(Math.max(1, Math.min(attemptTimeout, left)));
        try {
          const result = await raceAbort(probe(signal), signal);
          if (attempt > 1) options.logger.info({ dependency, attempt }, `${dependency} answered; starting`);
          waiting = undefined;
          return result;
        } catch (error) {
          waiting = dependency;
          const said = (error as Error)?.message ?? String(error);
          if (waitOptions.final?.(error))
            throw new DianaError(BOT_ERROR_CODES.START_FAILED, `${dependency} cannot be used: ${said}`, {
              cause: error,
              context: { dependency },
            });
          const timedOut = isTimeout(error);
          if (!timedOut) cause = said;
          const message =
            cutByDeadline && error instanceof AttemptTimeout && previous !== undefined
              ? previous
              : timedOut && cause
                ? // whichever timer ended it (the gate's or the probe's own, 'ping took longer than
                  // 5000 ms'): after a refusal it reads as a slow server when the server had
                  // stopped answering (a stranger read it so, PostgreSQL on a closed port)
                  `last error: ${cause}; then no answer within the attempt timeout`
                : said;
          previous = message;
          const delay = Math.min(nextDelay(), deadline - Date.now());
          if (delay <= 0)
            throw new DianaError(
              BOT_ERROR_CODES.START_TIMEOUT,
              `${dependency} did not answer within the start deadline of ${Math.round(options.start_timeout_ms / 1000)} s (DIANA_BOT_START_TIMEOUT_MS): ${message}`,
              { cause: error, context: { dependency } },
            );
          options.logger.warn(
            { dependency, attempt, retry_in_ms: delay, reason: message },
            `waiting for ${dependency}`,
          );
          if (attempt === 1) options.onWait?.(dependency, message);
          await sleep(delay);
        }
      }
    },
  };
}

/** An attempt that got no answer at all: it says nothing about why. */
class AttemptTimeout extends Error {}

/** The attempt's own deadline, or a probe's (`E_DB_TIMEOUT`, ...): no answer, no reason. */
const isTimeout = (error: unknown) =>
  error instanceof AttemptTimeout || (isDianaError(error) && error.code.endsWith('_TIMEOUT'));

/**
 * A probe that ignores its signal still ends at the attempt's deadline. One that ends on it may
 * still say why it got no answer (MongoDB's last refusal): a coded error it rejects with in the
 * next turn is its attempt's reason; anything else (a driver's own abort error) is the timeout.
 */
function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => void setImmediate(() => reject(new AttemptTimeout('no answer within the attempt timeout')));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
    work
      .then(resolve, (error: unknown) => {
        if (!signal.aborted || isDianaError(error)) reject(error);
      })
      .finally(() => signal.removeEventListener('abort', onAbort));
  });
}
