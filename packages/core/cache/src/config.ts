import { coerceDuration, coerceInt, coerceNumber } from '@diana/utils';
import * as v from 'valibot';

/** Default time to live of an entry. */
export const DEFAULT_CACHE_TTL = 60_000;
/** Default grace period: how long an expired entry may still be served while it refreshes. */
export const DEFAULT_CACHE_GRACE = 0;
/** Default bounds of the in-process tier. */
export const DEFAULT_L1_MAX_ENTRIES = 10_000;
export const DEFAULT_L1_MAX_BYTES = 50 * 1024 * 1024;

/** Cache settings (`DIANA_CACHE_*`). */
export const CacheConfig = v.object({
  /** Prefix of every Redis key and channel of this cache. */
  key_prefix: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9:_-]{1,64}$/)), 'diana:cache:'),
  default_ttl_ms: v.optional(coerceDuration({ min: 1 }), DEFAULT_CACHE_TTL),
  /** Random spread of TTLs (0.1 = ±10%), so entries written together do not expire together. */
  ttl_jitter: v.optional(coerceNumber({ min: 0, max: 0.5 }), 0.1),
  grace_ms: v.optional(coerceDuration(), DEFAULT_CACHE_GRACE),
  l1_max_entries: v.optional(coerceInt({ min: 1 }), DEFAULT_L1_MAX_ENTRIES),
  /** Approximate bytes of serialized values the in-process tier may hold. */
  l1_max_bytes: v.optional(coerceInt({ min: 1_024 }), DEFAULT_L1_MAX_BYTES),
  /** How long one process may hold the refresh lease of a key (cross-process stampede protection). */
  lock_ttl_ms: v.optional(coerceDuration({ min: 10 }), 5_000),
  /**
   * Most shared-tier entry reads made in one event-loop turn and sent to Redis as one `MGET`,
   * never delayed by a timer; 1 sends each alone (`GET`). A Redis Cluster always reads each alone.
   */
  redis_batch_max: v.optional(coerceInt({ min: 1, max: 1_000 }), 16),
  /** Time limit of each Redis command; a slower Redis counts as failing. */
  command_timeout_ms: v.optional(coerceDuration({ min: 10 }), 500),
  /** Consecutive Redis failures that open the circuit breaker. */
  breaker_threshold: v.optional(coerceInt({ min: 1 }), 5),
  /** How long the breaker stays open before it lets one call through. */
  breaker_cooldown_ms: v.optional(coerceDuration({ min: 10 }), 5_000),
});
/** Parsed `CacheConfig`. */
export type CacheConfig = v.InferOutput<typeof CacheConfig>;
/** What callers may pass (defaults filled in). */
export type CacheConfigInput = v.InferInput<typeof CacheConfig>;
