// The start and stop of the composition root: each dependency starts as a named step (a failure
// closes what already started and names the step), and everything closes in reverse order, each
// within the deadline.
import { DianaError, isDianaError, type Logger } from '@diana/utils';
import { BOT_ERROR_CODES } from './errors.js';

/** A named start step, and the reverse-order close of everything started. */
export interface Startup {
  /** Runs `start`; a failure closes what started and rejects with `E_BOT_START_FAILED` naming `name`. */
  step<T>(name: string, start: () => Promise<T> | T): Promise<T>;
  /** Registers a close, run before every close registered earlier. */
  onClose(name: string, close: () => Promise<unknown>): void;
  /** Closes in reverse order; each close gets `timeout_ms`, a failure is logged and the next runs. */
  closeAll(timeout_ms: number): Promise<void>;
}

/** A new, empty start. */
export function createStartup(logger: Logger): Startup {
  const closers: Array<{ name: string; close: () => Promise<unknown> }> = [];
  const closeAll = async (timeout_ms: number) => {
    for (const { name, close } of closers.reverse()) {
      // past its deadline a close is left running and the next one starts
      await Promise.race([close(), new Promise((resolve) => setTimeout(resolve, timeout_ms).unref())]).catch(
        (error: unknown) => logger.warn({ err: error, dependency: name }, 'close failed'),
      );
    }
    closers.length = 0;
  };
  return {
    async step(name, start) {
      try {
        return await start();
      } catch (error) {
        await closeAll(1_000).catch(() => {});
        // the gate's own last word (a deadline passed, an answer no wait can heal) already names it
        if (isDianaError(error, BOT_ERROR_CODES.START_TIMEOUT) || isDianaError(error, BOT_ERROR_CODES.START_FAILED))
          throw error;
        throw new DianaError(BOT_ERROR_CODES.START_FAILED, `${name} failed to start: ${(error as Error).message}`, {
          cause: error,
          context: { dependency: name },
        });
      }
    },
    onClose(name, close) {
      closers.push({ name, close });
    },
    closeAll,
  };
}

/** `work`, or a rejection ('timeout') after `ms`; the timer does not hold the process up. */
export function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  return Promise.race([
    work,
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timeout')), ms).unref()),
  ]);
}
