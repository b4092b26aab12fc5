// The transport port: what the bus needs from a stream store. Adapters: redis-streams
// (production) and memory (tests, embedded). The conformance suite in ./testing defines
// the semantics both must have.

/** One stream entry handed to a consumer. */
export interface Delivery {
  /** Event type = stream. */
  readonly type: string;
  /** The transport's entry id (Redis stream id). */
  readonly entry_id: string;
  /** The encoded envelope, as stored (may be anything a foreign producer wrote). */
  readonly raw: string | undefined;
  /** Times delivered, this delivery included (1 on the first read). */
  readonly deliveries: number;
  /** Set on replayed dead letters: only this group handles the entry, others skip it. */
  readonly only_group?: string;
  /** The type's partition the entry is in (transports with partitions; absent means 0). */
  readonly partition?: number;
}

/** A dead-lettered entry. */
export interface DeadLetter {
  /** Its id for replay and purge (on partition p > 0 of a partitioned type: `p/<entry id>`). */
  readonly dlq_id: string;
  readonly type: string;
  /** The type's partition it came from (absent means 0). */
  readonly partition?: number;
  readonly group: string;
  readonly error: string;
  readonly attempts: number;
  readonly failed_at: string;
  readonly original_id: string;
  readonly raw: string | undefined;
}

/** Per-group figures for health and metrics. */
export interface GroupStats {
  readonly type: string;
  readonly group: string;
  /**
   * Entries not yet delivered to the group. On Redis, when the server cannot tell (an entry past
   * the group's position was deleted), they are counted, up to 100 000 (then a lower bound).
   */
  readonly lag: number;
  /** Delivered, not yet acknowledged. */
  readonly pending: number;
  /** Age of the oldest pending entry (since it was appended), or 0. */
  readonly oldest_pending_ms: number;
}

/** One blocking reader (the Redis adapter gives each its own connection). */
export interface StreamReader {
  /**
   * New entries for `group`, waiting up to `block_ms` for some to arrive. With `own_pending`
   * (cursors per type, advanced here), this consumer's own pending entries after each cursor
   * instead, without waiting: what a consumer restarted under its name had not acknowledged.
   */
  readGroup(args: {
    group: string;
    consumer: string;
    types: readonly string[];
    count: number;
    block_ms: number;
    own_pending?: Map<string, string>;
    /**
     * Entries of `group` to acknowledge in the read's own round trip, before it waits (readers
     * with `acks_with_reads` only; not with `own_pending`). The call resolves once both are done;
     * when it rejects, the acknowledgements may or may not have been made (an entry left pending
     * is claimed and handled again later: at-least-once).
     */
    ack?: readonly Delivery[];
  }): Promise<Delivery[]>;
  /** True when `readGroup` takes `ack`. */
  readonly acks_with_reads?: boolean;
  /** Entries after each type's cursor, for every process (no group); advances the cursors. */
  readBroadcast(args: { cursors: Map<string, string>; count: number; block_ms: number }): Promise<Delivery[]>;
  /** Called after the reader had to rebuild its connection (broadcast subscribers resync). */
  onReconnect(listener: () => void): void;
  close(): Promise<void>;
}

/** An event the outbox relay appended: its type, its id (the append-once marker's), its partition key. */
export interface RelayedEvent {
  readonly type: string;
  readonly dedupe_id: string;
  readonly partition_key: string;
}

/** The stream store behind the bus. */
export interface StreamTransport {
  readonly name: string;
  /** Appends; with `dedupe_id` a second append of the same id returns the first entry's id. */
  append(
    type: string,
    raw: string,
    options?: {
      dedupe_id?: string;
      dedupe_ttl_ms?: number;
      /**
       * What picks the partition of a partitioned type (the bus passes the event's `key`, or its
       * id when it has none). Without it, partition 0. Ignored by transports without partitions.
       */
      partition_key?: string;
      /**
       * Aborted when the caller stops waiting. An append not yet handed to the server must
       * then reject with `E_BUS_PUBLISH_FAILED` and never be sent; one already sent cannot be
       * taken back (it settles as the server answers).
       */
      signal?: AbortSignal;
      /**
       * Called, before the append resolves, with the stream's key when the transport finds the
       * stream without its keep mark: `history` false when it has no history either — new, or
       * lost with Redis's data since its last append (a restart without AOF, a flush), and with
       * it the entries not yet read — or when its last entries are gone (its mark lies below the
       * highest id this transport's relayed appends got: restarted from an older snapshot);
       * true when it was appended to before marks were kept. The
       * caller tells new from lost (the relay keeps the keys it appended to). Only appends with
       * `dedupe_id` (the relay's) are told.
       */
      on_stream_unmarked?: (stream: string, history: boolean) => void;
    },
  ): Promise<string>;
  /** Creates the group if missing (new groups start at the beginning of the retained stream). */
  ensureGroup(type: string, group: string): Promise<void>;
  /**
   * Only on a transport whose entries do not outlive its process (memory): resolves once every
   * consumer group of `type` has acknowledged or dead-lettered the entry (at once when it has no
   * group). The outbox relay marks a row relayed only then, so a crash before its handlers ran
   * leaves the row for the next start, where the durable transports would keep the entry.
   */
  settled?(type: string, entry_id: string): Promise<void>;
  createReader(): StreamReader;
  /** The position broadcast readers start from: the stream's current end. */
  currentEnd(type: string): Promise<string>;
  ack(group: string, deliveries: readonly Delivery[]): Promise<void>;
  /** Atomically records the entry in the dead-letter stream and acknowledges it. */
  deadLetter(group: string, delivery: Delivery, info: { error: string; attempts: number }): Promise<void>;
  /** Takes over entries of `types` pending longer than `min_idle_ms` on any consumer. */
  claim(args: {
    group: string;
    consumer: string;
    types: readonly string[];
    min_idle_ms: number;
    count: number;
  }): Promise<Delivery[]>;
  /** Resets the idle time of entries this consumer is still working on (lease renewal). */
  renew(group: string, consumer: string, deliveries: readonly Delivery[]): Promise<void>;
  /**
   * Hands back, at a consumer's stop, every entry of `types` it holds except `kept` (handlers
   * still running): they stay pending, but the next `claim` of any other consumer takes them,
   * without waiting out `claim_idle_ms`. Returns how many. A transport without it leaves them
   * to be claimed after `claim_idle_ms`.
   */
  release?(group: string, consumer: string, types: readonly string[], kept: readonly Delivery[]): Promise<number>;
  /** True the first time `key` is marked within `ttl_ms`. */
  markOnce(key: string, ttl_ms: number): Promise<boolean>;
  listDeadLetters(type: string, limit: number): Promise<DeadLetter[]>;
  /** How many dead letters of `type` wait for replay or purge (for the `diana.events.dead_letters` gauge). */
  countDeadLetters(type: string): Promise<number>;
  /** Puts dead letters back on their stream for their group only; returns how many. */
  replayDeadLetters(type: string, dlq_ids?: readonly string[]): Promise<number>;
  purgeDeadLetters(type: string, dlq_ids?: readonly string[]): Promise<number>;
  /**
   * Trims entries every group has acknowledged; of a stream with no group, entries older than
   * `unread_kept_ms` (none when it is not given). Returns how many were removed.
   */
  trim(type: string, options?: { readonly unread_kept_ms?: number }): Promise<number>;
  groupStats(type: string): Promise<GroupStats[]>;
  /**
   * Of `streams` (keys `on_stream_unmarked` gave, appended to before), those that lost their data
   * or their last entries since (a Redis restarted without AOF or from an older snapshot, or
   * flushed); each is told to one caller only. `witnesses`: events the relay appended (newest
   * first); a stream whose newest witness's append-once marker is gone lost it, even where this
   * process has appended nothing yet (it started with that Redis). A
   * transport whose streams cannot outlive their data without it (memory) has none.
   */
  lostStreams?(streams: readonly string[], witnesses?: readonly RelayedEvent[]): Promise<string[]>;
  streamLength(type: string): Promise<number>;
  /** Stops its readers and closes its own connections (never the connector). `timeout_ms` is accepted for the common shape. */
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}
