// The shared-tier port: where entries live for every process, with refresh leases and an
// invalidation channel. One adapter: redis (`@diana/cache/adapters/redis`). Without a store
// the cache is in-process only (the embedded default).

/** An entry as stored in the shared tier. */
export interface StoredEntry {
  /** serialized value */
  readonly v: string;
  readonly e: number;
  readonly s: number;
  readonly t: readonly string[];
}

/** An invalidation heard from another process. */
export interface Invalidation {
  readonly o: string;
  readonly k?: string;
  readonly t?: string;
  readonly p?: string;
}

/** What the cache hears from the store's invalidation channel. */
export interface CacheStoreListener {
  readonly onInvalidation: (message: Invalidation) => void;
  /** The subscription came back after a disconnect: whatever was missed is unknown. */
  readonly onResubscribed: () => void;
}

/** The shared tier: every method answers, none throws (a failing backend is a miss). */
export interface CacheStore {
  readonly name: string;
  get(key: string): Promise<StoredEntry | undefined>;
  set(key: string, entry: StoredEntry, ttl_ms: number): Promise<void>;
  delete(key: string): Promise<void>;
  deleteByTag(tag: string): Promise<void>;
  clear(prefix: string): Promise<void>;
  /** True when this process may run the factory (or when the store cannot say). */
  acquireLease(key: string, token: string, ttl_ms: number): Promise<boolean>;
  releaseLease(key: string, token: string): Promise<void>;
  publish(message: Invalidation): Promise<void>;
  /** Registers the cache's listener; returns its removal. */
  subscribe(listener: CacheStoreListener): () => void;
  readonly breakerOpen: boolean;
  readonly failures: number;
  /** Closes the store's own connections (never the connector). */
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
}
