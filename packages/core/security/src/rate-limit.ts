import { explainRedisError } from '@diana/redis';
import {
  type Clock,
  type Closeable,
  createCloser,
  createFailureStreak,
  DianaError,
  getPackageLogger,
  type Logger,
} from '@diana/utils';
import { createMemoryRateLimitStore } from './adapters/memory.js';
import type { SecurityConfigInput } from './config.js';
import { SECURITY_ERROR_CODES } from './errors.js';
import { createSecurityMetrics } from './metrics.js';
import type { RateDecision, RateLimitStore, RatePolicy } from './rate-types.js';
import { parseSecurityConfig } from './settings.js';

/** A decision of the limiter. */
export interface RateLimitResult extends RateDecision {
  /** The policy's limit. */
  readonly limit: number;
  /** True when Redis did not answer and the in-memory insurance limiter decided. */
  readonly degraded: boolean;
}

/** What `createRateLimiter` needs besides its config. */
export interface RateLimiterDeps {
  /** The policy of an action (`undefined`: unknown action → `E_SECURITY_CONFIG`). The app reads ConfigManager here. */
  readonly getPolicy: (action: string) => RatePolicy | undefined;
  /**
   * The store shared by every process (`createRedisRateLimitStore` from
   * `@diana/security/adapters/redis`); without it the limiter is in memory (one process).
   * It serves this limiter alone and is closed with it (when it has a `close`).
   */
  readonly store?: RateLimitStore;
  readonly logger?: Logger;
  readonly clock?: Clock;
}

/** Per-key, per-action limits. */
export interface RateLimiter extends Closeable {
  /** Counts a call of `action` by `key` (a user id) and says whether it may go ahead. Never throws for Redis. */
  consume(key: string | number, action: string, options?: { cost?: number }): Promise<RateLimitResult>;
  /** Like `consume`, but a refusal throws `E_SECURITY_RATE_LIMITED` with `context.retry_after_ms`. */
  enforce(key: string | number, action: string, options?: { cost?: number }): Promise<RateLimitResult>;
  /** Which store decides (for the app's start-up line). */
  readonly backend: string;
  /** Closes the limiter and its store. Idempotent. */
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
}

const ACTION = /^[a-z][a-z0-9_.]{0,63}$/;
const KEY = /^[A-Za-z0-9_.:-]{1,128}$/;

/**
 * The limiter: GCRA per (action, key) in Redis, with an in-memory insurance limiter that
 * answers (with `insurance_share` of each limit) whenever Redis fails or is too slow.
 */
export function createRateLimiter(config: SecurityConfigInput, deps: RateLimiterDeps): RateLimiter {
  const settings = parseSecurityConfig(config);
  const logger = getPackageLogger(deps.logger, 'security');
  const metrics = createSecurityMetrics();
  const primary = deps.store ?? createMemoryRateLimitStore({ clock: deps.clock });
  const insurance = createMemoryRateLimitStore({ clock: deps.clock });
  // one warning per outage, its end once at info: 5 s without a failure (with a Redis Cluster
  // master down, keys on it fail while the others' work: by turns, not an end each time)
  const outage = createFailureStreak({
    logger,
    message: 'rate limiter: Redis unavailable, the in-memory insurance limiter decides',
    explain: explainRedisError,
    recovered: 'rate limiter: Redis answers again',
    settle_ms: 5_000,
    ...(deps.clock ? { clock: deps.clock } : {}),
  });
  const closer = createCloser(async ({ timeout_ms = 1_000 }) => {
    await primary.close?.({ timeout_ms });
  });

  const policyOf = (action: string): RatePolicy => {
    const policy = ACTION.test(action) ? deps.getPolicy(action) : undefined;
    if (
      !policy ||
      !Number.isSafeInteger(policy.limit) ||
      policy.limit < 1 ||
      !Number.isFinite(policy.window_ms) ||
      policy.window_ms <= 0
    )
      throw new DianaError(SECURITY_ERROR_CODES.SECURITY_CONFIG, `no valid rate-limit policy for '${action}'`, {
        context: { action: String(action).slice(0, 80), policy },
      });
    return policy;
  };

  const consume = async (key: string | number, action: string, options: { cost?: number } = {}) => {
    const policy = policyOf(action);
    const id = String(key);
    const cost = options.cost ?? 1;
    if (!KEY.test(id) || !Number.isSafeInteger(cost) || cost < 1 || cost > policy.limit)
      throw new DianaError(
        SECURITY_ERROR_CODES.SECURITY_CONFIG,
        'a rate-limit key is [A-Za-z0-9_.:-]{1,128}, cost 1..limit',
        {
          context: { action, cost },
        },
      );
    const storeKey = `${action}:${id}`;
    let decision: RateDecision;
    let degraded = false;
    try {
      decision = await primary.consume(storeKey, policy, cost);
      outage.succeeded();
    } catch (error) {
      outage.failed(error);
      const share = Math.max(1, Math.floor(policy.limit * settings.insurance_share));
      decision = await insurance.consume(
        storeKey,
        { limit: share, window_ms: policy.window_ms },
        Math.min(cost, share),
      );
      degraded = true;
    }
    metrics.rateDecision(action, decision.allowed, degraded);
    return {
      allowed: decision.allowed,
      remaining: decision.remaining,
      retry_after_ms: decision.retry_after_ms,
      limit: policy.limit,
      degraded,
    };
  };

  return {
    backend: primary.name,
    consume,
    async enforce(key, action, options) {
      const result = await consume(key, action, options);
      if (!result.allowed)
        throw new DianaError(
          SECURITY_ERROR_CODES.RATE_LIMITED,
          `'${action}' is limited; retry in ${result.retry_after_ms} ms`,
          {
            context: { action, retry_after_ms: result.retry_after_ms },
          },
        );
      return result;
    },
    close: closer.close,
    [Symbol.asyncDispose]: closer[Symbol.asyncDispose],
  };
}
