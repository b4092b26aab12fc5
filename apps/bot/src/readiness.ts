// /readyz's answer: every backend pinged within a deadline, every long-running loop running and
// not failing over and over.
import { withDeadline } from './startup.js';

/** Failures in a row after which a loop makes /readyz say not ready. */
export const LOOP_FAILURES_NOT_READY = 3;

/** One long-running loop, for /readyz and the `diana.loop.*` gauges. */
export interface LoopState {
  readonly loop: string;
  readonly running: boolean;
  readonly consecutive_failures: number;
}

/** A backend's ping, by name. */
export type Ping = (timeout_ms: number) => Promise<unknown>;

/** The names of the backends that did not answer in `timeout_ms` and of the loops that are stopped or failing. */
export async function notReady(pings: ReadonlyMap<string, Ping>, loops: readonly LoopState[], timeout_ms: number) {
  const results = await Promise.all(
    [...pings].map(async ([name, ping]) => {
      try {
        await withDeadline(ping(timeout_ms), timeout_ms);
        return undefined;
      } catch {
        return name;
      }
    }),
  );
  // three failures in a row (a second or more of backoff), not one transient blip
  const stuck = loops
    .filter((loop) => !loop.running || loop.consecutive_failures >= LOOP_FAILURES_NOT_READY)
    .map((loop) => (loop.running ? `${loop.loop} failing` : `${loop.loop} stopped`));
  return [...results.filter((name): name is string => name !== undefined), ...stuck];
}
