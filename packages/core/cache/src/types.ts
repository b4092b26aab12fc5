// The shared-tier port: where entries live for every process, with refresh leases and an
// invalidation channel. One adapter: redis (`@diana/cache/adapters/redis`). Without a store
// the cache is in-process only (the embedded default).

/**
 * An entry as stored in the shared tier: its wire format (JSON), with one-letter keys because it
 * is written for every cached value. Changing a key is a format change every process must agree on.
 */
export interface StoredEntry {
  /** value: the superjson text of the cached value */
  readonly v: string;
  /** expires: epoch ms after which the value is stale (served within grace while refreshed) */
  readonly e: number;
  /** stale until: epoch ms after which the value is gone */
  readonly s: number;
  /** tags: the entry's tags, for `deleteByTag` */
  readonly t: readonly string[];
}

/**
 * An invalidation on the store's channel (its wire format, JSON): who sent it, and exactly one
 * of what to drop from every other process's in-memory tier.
 */
export interface Invalidation {
  /** origin: the sending process's random id (a process ignores its own messages) */
  readonly o: string;
  /** key: one entry */
  readonly k?: string;
  /** tag: every entry with this tag */
  readonly t?: string;
  /** prefix: every entry under it (`clear()` of a namespace) */
  readonly p?: string;
}

/** What the cache hears from the store's invalidation channel. */
export interface CacheStoreListener {
  readonly onInvalidation: (message: Invalidation) => void;
  /**
   * The subscription is in place (again): whatever was sent before it is unknown — after a
   * disconnect, and the first time too (memory copies taken while the breaker was open).
   */
  readonly onResubscribed: () => void;
}

/** The shared tier: every method answers, none throws (a failing backend is a miss). */
export interface CacheStore {
  readonly name: string;
  get(key: string): Promise<StoredEntry | undefined>;
  /**
   * Stores an entry and drops the key's refresh lease in one step (a fill running meanwhile then
   * does not land); `notice`, when given, is published right after it in the same round trip.
   */
  set(key: string, entry: StoredEntry, ttl_ms: number, notice?: Invalidation): Promise<void>;
  /** Drops an entry and its refresh lease; `notice`, when given, is published right after it in the same round trip. */
  delete(key: string, notice?: Invalidation): Promise<void>;
  /** Drops the entries of a tag, each with its refresh lease. */
  deleteByTag(tag: string): Promise<void>;
  clear(prefix: string): Promise<void>;
  /**
   * True when this process may run the factory (or when the store cannot say). Once granted, the
   * key joins the sets of `tags` (the fill's), so a `deleteByTag` during the factory drops the lease.
   */
  acquireLease(key: string, token: string, ttl_ms: number, tags?: readonly string[]): Promise<boolean>;
  releaseLease(key: string, token: string): Promise<void>;
  /**
   * A factory's fill: stores the entry only while `token` still holds the key's lease (a `set`,
   * `delete` or `deleteByTag` since the lease was taken dropped it), and releases the lease, in one
   * step. False when it was not stored; true when stored, or when the store cannot say.
   */
  fill(key: string, entry: StoredEntry, ttl_ms: number, token: string): Promise<boolean>;
  publish(message: Invalidation): Promise<void>;
  /** Registers the cache's listener; returns its removal. */
  subscribe(listener: CacheStoreListener): () => void;
  /**
   * False while this process would not hear invalidations: before the store's subscription is
   * first in place, and from a lost connection until it is in place again (then `onResubscribed`).
   * The cache keeps no memory copy of a shared entry meanwhile, unless the breaker is open. A
   * store without the flag counts as listening.
   */
  readonly listening?: boolean;
  readonly breakerOpen: boolean;
  readonly failures: number;
  /** Closes the store's own connections (never the connector). */
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
}
