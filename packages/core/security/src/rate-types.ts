// The rate-limit store port. Adapters: redis (shared by every process) and memory (one
// process: tests, the embedded default, and the insurance limiter while Redis is down).
// Both run GCRA on integer microseconds; the conformance suite in ./testing defines them.

/** `limit` calls per `window_ms`, at most `limit` at once. */
export interface RatePolicy {
  readonly limit: number;
  readonly window_ms: number;
}

/** One decision. */
export interface RateDecision {
  readonly allowed: boolean;
  /** Calls still allowed right now after this one. */
  readonly remaining: number;
  /** When refused: how long until a call of the same cost would be allowed. 0 when allowed. */
  readonly retry_after_ms: number;
}

/** Where the limiter keeps its state. `consume` is atomic per key. */
export interface RateLimitStore {
  readonly name: string;
  consume(key: string, policy: RatePolicy, cost: number): Promise<RateDecision>;
  /** Closes its own connections, if it has any (the limiter closes its store). */
  close?(options?: { readonly timeout_ms?: number }): Promise<void>;
}

/** GCRA's emission interval in whole microseconds (at least 1). */
export function intervalMicros(policy: RatePolicy): number {
  return Math.max(1, Math.round((policy.window_ms * 1_000) / policy.limit));
}
