import { MAX_RETENTION_MS } from '@diana/db';
import { coerceDuration, coerceInt } from '@diana/utils';
import * as v from 'valibot';
import { PartitionsConfig } from './partitions.js';

/** Default attempts before an event goes to the dead-letter stream. */
export const DEFAULT_MAX_ATTEMPTS = 3;

/** Event bus settings (`DIANA_EVENT_BUS_*`). */
export const EventBusConfig = v.object({
  /** Prefix of every key the bus writes. */
  stream_prefix: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9:_-]{1,64}$/)), 'diana:ev:'),
  /** How long one blocking read waits for new entries. */
  block_ms: v.optional(coerceDuration({ min: 10, max: 60_000 }), 1_000),
  /** Entries read per call. */
  batch_size: v.optional(coerceInt({ min: 1, max: 1_000 }), 100),
  /** Handlers running at once per subscription (default of `subscribe`). */
  concurrency: v.optional(coerceInt({ min: 1, max: 10_000 }), 16),
  /** Attempts (the first included) before dead-lettering. */
  max_attempts: v.optional(coerceInt({ min: 1, max: 100 }), DEFAULT_MAX_ATTEMPTS),
  backoff_base_ms: v.optional(coerceDuration(), 200),
  backoff_max_ms: v.optional(coerceDuration(), 30_000),
  /** A handler running longer than this is failed (its attempt counts). */
  handler_timeout_ms: v.optional(coerceDuration({ min: 1 }), 30_000),
  /** Entries pending this long on a consumer that stopped renewing them are claimed by others. */
  claim_idle_ms: v.optional(coerceDuration({ min: 10 }), 60_000),
  /** How often each consumer looks for entries to claim. */
  claim_interval_ms: v.optional(coerceDuration({ min: 10 }), 5_000),
  /** `publish` rejects when Redis has not accepted the entry within this time. */
  publish_timeout_ms: v.optional(coerceDuration({ min: 1 }), 2_000),
  /** Safety cap on a stream's length (XADD MAXLEN ~); normal trimming keeps streams far below. */
  max_len: v.optional(coerceInt({ min: 1_000 }), 1_000_000),
  /** How often acknowledged entries are trimmed. */
  trim_interval_ms: v.optional(coerceDuration({ min: 10 }), 10_000),
  /**
   * How long an entry of a stream no consumer group reads is kept (for a group made later, or a
   * broadcast reader); 0 keeps it, up to `max_len`.
   */
  unread_retention_ms: v.optional(coerceDuration({ max: MAX_RETENTION_MS }), 24 * 3_600_000),
  /** How long the outbox relay's and `once()`'s markers live. */
  dedupe_ttl_ms: v.optional(coerceDuration({ min: 1_000 }), 24 * 3_600_000),
  /** Outbox relay polling interval (it is also woken by NOTIFY). */
  outbox_poll_ms: v.optional(coerceDuration({ min: 10 }), 1_000),
  /**
   * How long the outbox relay keeps a pass's transaction open for the next NOTIFY, whose pass
   * then runs in it (a COMMIT and a BEGIN saved per pass under steady traffic; the rows are
   * appended at once, only their marks wait). 0: each pass commits at once.
   */
  outbox_hold_ms: v.optional(coerceDuration({ min: 0, max: 1_000 }), 20),
  /** Rows the relay appends per batch. */
  outbox_batch_size: v.optional(coerceInt({ min: 1, max: 10_000 }), 200),
  /** How long a published outbox row is kept (for looking into what was sent); 0 keeps it for ever. */
  outbox_retention_ms: v.optional(coerceDuration({ max: MAX_RETENTION_MS }), 24 * 3_600_000),
  /**
   * How long an inbox record (group, event id) is kept; 0 keeps it for ever. An event that comes
   * again after its record is gone runs again, so the relay refuses less than `dedupe_ttl_ms` (a
   * relay's re-append after that makes a new entry).
   */
  inbox_retention_ms: v.optional(coerceDuration({ max: MAX_RETENTION_MS }), 7 * 24 * 3_600_000),
  /**
   * When Redis lost a stream (restarted without AOF, flushed), the outbox rows of its type
   * published this long before are relayed again (each group's inbox skips what it had handled);
   * 0 relays none again. Rows are kept `outbox_retention_ms` at most.
   */
  lost_stream_replay_ms: v.optional(coerceDuration({ max: MAX_RETENTION_MS }), 3_600_000),
  /** How often the outbox relay removes rows past their retention. */
  retention_interval_ms: v.optional(coerceDuration({ min: 10 }), 60_000),
  /**
   * Partitions per event type (`type=4,type=2` or an object), for the Redis Streams transport
   * (the app passes it on, like `stream_prefix`). A type not named has 1.
   */
  partitions: v.optional(PartitionsConfig, {}),
  /** Replicas that must confirm an append (`WAIT`) before publish resolves; 0 does not wait (transport setting). */
  wait_replicas: v.optional(coerceInt({ min: 0, max: 16 }), 0),
  /** How long an append waits for `wait_replicas` (transport setting). */
  wait_timeout_ms: v.optional(coerceDuration({ min: 1 }), 1_000),
});
/** Parsed `EventBusConfig`. */
export type EventBusConfig = v.InferOutput<typeof EventBusConfig>;
/** What callers may pass (defaults filled in). */
export type EventBusConfigInput = v.InferInput<typeof EventBusConfig>;

/**
 * Whether `inbox_retention_ms` (other than 0) is shorter than `dedupe_ttl_ms`: an event appended
 * again after its inbox record is gone would run again. The outbox relay refuses such settings;
 * an app can refuse them earlier, when its settings load.
 */
export function inboxRetentionTooShort(
  settings: Pick<EventBusConfig, 'inbox_retention_ms' | 'dedupe_ttl_ms'>,
): boolean {
  return settings.inbox_retention_ms > 0 && settings.inbox_retention_ms < settings.dedupe_ttl_ms;
}
