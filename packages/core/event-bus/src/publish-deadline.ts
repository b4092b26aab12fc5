// The deadline of a direct publish: its append is confirmed within `publish_timeout_ms`, or
// the publish fails with E_BUS_PUBLISH_OUTCOME_UNKNOWN (sent, maybe in the stream) — and an
// append not sent by then never is (E_BUS_PUBLISH_FAILED).
import { setMaxListeners } from 'node:events';
import { DianaError } from '@diana/utils';
import { EVENT_BUS_ERROR_CODES } from './errors.js';

/** The publishes begun in one millisecond: one timer and one abort signal for them all. */
interface Deadline {
  readonly controller: AbortController;
  readonly timer: NodeJS.Timeout;
  readonly started: number;
  /** Each publish still waiting: what fails it when the time is up. */
  readonly open: Set<() => void>;
}

/**
 * Runs appends under a deadline of `ms` each. Publishes begun within the same millisecond share
 * one deadline (an AbortController and a timer cost a publish more than the rest of its own
 * work: they were a fifth of its CPU under load): each still ends within [ms − 1, ms] of its
 * start. A lone publish pays what it did before. `now` (milliseconds) is for tests.
 */
export function createPublishDeadlines(ms: number, now: () => number = () => performance.now()) {
  let current: Deadline | undefined;

  const expire = (deadline: Deadline) => {
    if (current === deadline) current = undefined;
    deadline.controller.abort();
    // an unsent append rejects within this turn's promise callbacks, before the immediate
    setImmediate(() => {
      for (const fail of deadline.open) fail();
    });
  };
  const join = (): Deadline => {
    const at = now();
    if (current && at - current.started < 1) return current;
    const controller = new AbortController();
    // every append of the millisecond may wait on the signal (for a connection): no leak warning
    setMaxListeners(0, controller.signal);
    const deadline: Deadline = {
      controller,
      started: at,
      open: new Set(),
      timer: setTimeout(() => expire(deadline), ms),
    };
    current = deadline;
    return deadline;
  };
  const leave = (deadline: Deadline, fail: () => void) => {
    deadline.open.delete(fail);
    if (deadline.open.size > 0) return;
    clearTimeout(deadline.timer);
    if (current === deadline) current = undefined; // disarmed: the next publish starts another
  };

  /** Appends with `append(signal)`, settling with its outcome or, past the deadline, the unknown-outcome error. */
  return <T>(append: (signal: AbortSignal) => Promise<T>, type: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const deadline = join();
      let settled = false;
      const settle = (done: () => void) => {
        if (settled) return;
        settled = true;
        leave(deadline, fail);
        done();
      };
      const fail = () =>
        settle(() =>
          reject(
            new DianaError(
              EVENT_BUS_ERROR_CODES.PUBLISH_OUTCOME_UNKNOWN,
              `${type}: sent, but not confirmed within ${ms} ms; it may or may not be in the stream`,
            ),
          ),
        );
      deadline.open.add(fail);
      append(deadline.controller.signal).then(
        (value) => settle(() => resolve(value)),
        (error: unknown) =>
          settle(() =>
            reject(
              error instanceof DianaError
                ? error
                : new DianaError(EVENT_BUS_ERROR_CODES.PUBLISH_FAILED, `${type}: ${(error as Error).message}`, {
                    cause: error,
                  }),
            ),
          ),
      );
    });
}
