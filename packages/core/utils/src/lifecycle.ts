/** What every resource owner exposes: an idempotent `close` and `await using` support. */
export interface Closeable {
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A closer made by `createCloser`: `close` runs `fn` once and every call shares its promise. */
export interface Closer extends Closeable {
  /** True once `close` has been called (even while it is still running). */
  readonly closed: boolean;
}

/** Makes `fn` the body of an idempotent `close`; a failed close is not retried. */
export function createCloser(fn: () => Promise<void> | void): Closer {
  let running: Promise<void> | undefined;
  const close = (): Promise<void> => {
    running ??= Promise.resolve().then(fn);
    return running;
  };
  return {
    get closed() {
      return running !== undefined;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
