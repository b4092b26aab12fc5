/** The emitter side `createEventWaiter` needs (Node's EventEmitter, an ioredis client, ...). */
export interface OnceEmitter {
  once(event: string, listener: () => void): unknown;
}

/**
 * A waiter for the next `event` of `emitter`, shared by every caller until it fires, each
 * caller bounded by its own deadline: `wait(ms)` rejects with `message` after `ms`, and
 * `wait(ms, signal)` also with the signal's reason as soon as it aborts (leaving no timer).
 * (E.g. commands of a client without an offline queue waiting for its next `ready`.)
 */
export function createEventWaiter(emitter: OnceEmitter, event: string, message: () => string) {
  let pending: Promise<void> | undefined;
  return (ms: number, signal?: AbortSignal): Promise<void> => {
    pending ??= new Promise<void>((resolve) => {
      emitter.once(event, () => {
        pending = undefined;
        resolve();
      });
    });
    const shared = pending;
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal?.reason);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        reject(new Error(message()));
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
      shared.then(() => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      });
    });
  };
}
