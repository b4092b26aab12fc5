import {
  decorrelatedJitterGenerator,
  ExponentialBackoff,
  fullJitterGenerator,
  halfJitterGenerator,
  type IBackoff,
  noJitterGenerator,
} from 'cockatiel';
import { sleep } from './clock.js';

/**
 * How delays are randomized: `half` waits between half and all of the exponential delay
 * (the default: spreads retries yet keeps them growing), `full` between zero and all of it,
 * `decorrelated` follows Polly's decorrelated jitter, `none` is the bare exponential.
 */
export type Jitter = 'none' | 'half' | 'full' | 'decorrelated';

/** Exponential backoff settings shared by every retry in Diana. */
export interface BackoffOptions {
  /** First delay before jitter. @default 100 */
  readonly base_ms?: number;
  /** Upper bound of any delay. @default 10_000 */
  readonly max_ms?: number;
  /** @default 'half' */
  readonly jitter?: Jitter;
}

/** Options of `retry`. */
export interface RetryOptions extends BackoffOptions {
  /** Attempts in all, the first included. @default 3 */
  readonly max_attempts?: number;
  /** Stops waiting and retrying: `retry` rejects with the signal's reason. */
  readonly signal?: AbortSignal;
  /** Whether an error is worth another attempt. @default every error */
  readonly shouldRetry?: (error: unknown, attempt: number) => boolean;
  /** Called before each wait, for logs and metrics. */
  readonly onRetry?: (info: { error: unknown; attempt: number; delay_ms: number }) => void;
}

/** Defaults of `BackoffOptions`. */
export const DEFAULT_BACKOFF = Object.freeze({ base_ms: 100, max_ms: 10_000, jitter: 'half' as Jitter });

const GENERATORS = {
  none: noJitterGenerator,
  half: halfJitterGenerator,
  full: fullJitterGenerator,
  decorrelated: decorrelatedJitterGenerator,
} as const;

/** A stateful backoff: each call of the returned function gives the next delay in ms. */
export function createBackoff(options: BackoffOptions = {}): () => number {
  const { base_ms, max_ms, jitter } = { ...DEFAULT_BACKOFF, ...options };
  const factory = new ExponentialBackoff({
    initialDelay: base_ms,
    maxDelay: max_ms,
    generator: GENERATORS[jitter] as typeof noJitterGenerator,
  });
  let current: IBackoff<unknown> | undefined;
  return () => {
    current = current === undefined ? factory.next() : current.next(undefined);
    return Math.min(Math.max(0, Math.round(current.duration)), max_ms);
  };
}

/** The delay before retry number `attempt` (1 = the first retry) of a fresh backoff. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const next = createBackoff(options);
  let delay = 0;
  for (let i = 0; i < Math.max(1, attempt); i++) delay = next();
  return delay;
}

/**
 * Runs `fn` until it succeeds, at most `max_attempts` times, waiting with exponential backoff
 * and jitter between attempts. Rejects with the last error, or with the abort reason.
 */
export async function retry<T>(fn: (attempt: number) => Promise<T> | T, options: RetryOptions = {}): Promise<T> {
  const maxAttempts = options.max_attempts ?? 3;
  const nextDelay = createBackoff(options);
  for (let attempt = 1; ; attempt++) {
    options.signal?.throwIfAborted();
    try {
      return await fn(attempt);
    } catch (error) {
      if (attempt >= maxAttempts || options.shouldRetry?.(error, attempt) === false) throw error;
      const delay = nextDelay();
      options.onRetry?.({ error, attempt, delay_ms: delay });
      await sleep(delay, options.signal);
    }
  }
}
