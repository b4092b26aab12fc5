import { coerceDuration, coerceInt } from '@diana/utils';
import * as v from 'valibot';

/** Default cap on compare-and-set attempts of one `update` (the deadline usually ends it first). */
export const DEFAULT_STATE_MAX_ATTEMPTS = 10_000;
/** Default time one `update` may keep retrying lost compare-and-sets before `E_STATE_CONFLICT`. */
export const DEFAULT_STATE_UPDATE_DEADLINE = 10_000;
/** Default time a persistent slice stays in the Redis read-through cache. */
export const DEFAULT_STATE_CACHE_TTL = 600_000;

/** Default cap on persistent reads or compare-and-sets of one turn sent as one statement. */
export const DEFAULT_POSTGRES_BATCH = 32;

/** User-state settings (`DIANA_USER_STATE_*`). */
export const UserStateConfig = v.object({
  /** Prefix of every Redis key of this manager. */
  key_prefix: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9:_-]{1,64}$/)), 'diana:us:'),
  /**
   * How long one `update` may keep retrying lost compare-and-sets, from its turn (after this
   * manager's earlier updates of the slice), before it gives up with `E_STATE_CONFLICT` (a
   * deadline, not a count: a count of attempts fails by machine speed).
   */
  update_deadline_ms: v.optional(coerceDuration({ min: 1 }), DEFAULT_STATE_UPDATE_DEADLINE),
  /** Cap on compare-and-set attempts of one `update` (the first included). */
  max_attempts: v.optional(coerceInt({ min: 1, max: 10_000 }), DEFAULT_STATE_MAX_ATTEMPTS),
  /** First wait after a lost compare-and-set; doubles up to `backoff_max_ms`, with full jitter. */
  backoff_base_ms: v.optional(coerceDuration({ min: 0 }), 2),
  backoff_max_ms: v.optional(coerceDuration({ min: 0 }), 100),
  /** How long a persistent slice stays in the Redis read-through cache. */
  cache_ttl_ms: v.optional(coerceDuration({ min: 1_000 }), DEFAULT_STATE_CACHE_TTL),
  /** Time limit of each Redis command; past it the command counts as failed. */
  command_timeout_ms: v.optional(coerceDuration({ min: 10 }), 1_000),
  /**
   * Most ephemeral reads (one MGET) or compare-and-sets (one script call) sent to Redis
   * together: those asked in one event-loop turn are coalesced, never delayed by a timer; 1
   * sends each on its own. Smaller batches overlap: Redis runs one while the process prepares
   * the next (at 32 concurrent updates, 12–16 gave 64–75k updates/s against 43–54k with 64).
   */
  redis_batch_max: v.optional(coerceInt({ min: 1, max: 1_000 }), 16),
  /**
   * Most persistent reads (one `select`) or compare-and-sets (one statement: one commit, one
   * WAL flush) made outside a transaction in one event-loop turn and sent to PostgreSQL
   * together, never delayed by a timer; 1 sends each alone. Inside a transaction each runs alone.
   */
  postgres_batch_max: v.optional(coerceInt({ min: 1, max: 1_000 }), DEFAULT_POSTGRES_BATCH),
});
/** Parsed `UserStateConfig`. */
export type UserStateConfig = v.InferOutput<typeof UserStateConfig>;
/** What callers may pass (defaults filled in). */
export type UserStateConfigInput = v.InferInput<typeof UserStateConfig>;
