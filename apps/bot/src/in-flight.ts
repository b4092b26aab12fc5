// Updates the bot has taken and not finished. A stop waits for them before it closes what they
// use: in long polling the runner's stop ends fetching, not the updates it handed out, and
// Telegram already counts those as delivered — closing under them would lose their work.
import type { Context, MiddlewareFn } from 'grammy';

/** Counts running updates; `drain` waits until none runs. */
export interface InFlightUpdates<C extends Context> {
  /** Installed first: every update counts from its start to its end. */
  readonly middleware: MiddlewareFn<C>;
  /** Updates running now. */
  running(): number;
  /** Resolves true when none runs, or false after `timeout_ms` with some still running. */
  drain(timeout_ms: number): Promise<boolean>;
}

/** A new tracker of running updates. */
export function trackUpdates<C extends Context>(): InFlightUpdates<C> {
  let running = 0;
  const waiting = new Set<() => void>();
  return {
    middleware: async (_ctx, next) => {
      running++;
      try {
        await next();
      } finally {
        if (--running === 0) for (const wake of waiting) wake();
      }
    },
    running: () => running,
    drain(timeout_ms) {
      if (running === 0) return Promise.resolve(true);
      return new Promise<boolean>((resolve) => {
        const done = (idle: boolean) => {
          clearTimeout(timer);
          waiting.delete(wake);
          resolve(idle);
        };
        const wake = () => done(true);
        const timer = setTimeout(() => done(false), timeout_ms);
        waiting.add(wake);
      });
    },
  };
}
