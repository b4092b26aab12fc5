/** Options of every `close`. */
export interface CloseOptions {
  /**
   * How long work in progress (a running handler, a relay pass, a QUIT) may take before it is
   * abandoned and the close resolves anyway. Each owner documents its default; an owner with
   * nothing to wait for closes at once.
   */
  readonly timeout_ms?: number;
}

/** What every resource owner exposes: an idempotent `close` and `await using` support. */
export interface Closeable {
  close(options?: CloseOptions): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A closer made by `createCloser`: `close` runs `fn` once and every call shares its promise. */
export interface Closer extends Closeable {
  /** True once `close` has been called (even while it is still running). */
  readonly closed: boolean;
}

/**
 * Makes `fn` the body of an idempotent `close`; a failed close is not retried. The first call's
 * options are the ones `fn` gets: a later call joins the close already running.
 */
export function createCloser(fn: (options: CloseOptions) => Promise<void> | void): Closer {
  let running: Promise<void> | undefined;
  const close = (options: CloseOptions = {}): Promise<void> => {
    running ??= Promise.resolve().then(() => fn(options));
    return running;
  };
  return {
    get closed() {
      return running !== undefined;
    },
    close,
    [Symbol.asyncDispose]: () => close(),
  };
}

/**
 * Waits for `work` at most `timeout_ms` (without it, as long as `work` takes): resolves when `work`
 * resolves or the time is up, rejects if `work` rejects first. For a close that must not hang on
 * work in progress; the timer does not hold the process up.
 */
export async function waitWithin(work: Promise<unknown>, timeout_ms: number | undefined): Promise<void> {
  if (timeout_ms === undefined) {
    await work;
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeUp = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeout_ms);
    timer.unref();
  });
  try {
    await Promise.race([work, timeUp]);
  } finally {
    clearTimeout(timer);
  }
}
