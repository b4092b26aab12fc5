/** The emitter side `createEventWaiter` needs (Node's EventEmitter, an ioredis client, ...). */
export interface OnceEmitter {
  once(event: string, listener: () => void): unknown;
}

/**
 * A waiter for the next `event` of `emitter`, shared by every caller until it fires, each
 * caller bounded by its own deadline: `wait(ms)` rejects with `message` after `ms`.
 * (E.g. commands of a client without an offline queue waiting for its next `ready`.)
 */
export function createEventWaiter(emitter: OnceEmitter, event: string, message: () => string) {
  let pending: Promise<void> | undefined;
  return (ms: number): Promise<void> => {
    pending ??= new Promise<void>((resolve) => {
      emitter.once(event, () => {
        pending = undefined;
        resolve();
      });
    });
    const shared = pending;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(message())), ms);
      shared.then(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  };
}
