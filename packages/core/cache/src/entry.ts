import superjson from 'superjson';

/** A cached value with its lifetimes. */
export interface CacheEntry<T = unknown> {
  readonly value: T;
  /** Fresh until then (epoch ms). */
  readonly expires_at: number;
  /** Servable while refreshing until then (expires_at + grace). */
  readonly stale_until: number;
  readonly tags: readonly string[];
  /** Serialized size, the weight in the in-process tier's byte budget. */
  readonly bytes: number;
}

/** Serialization that keeps Dates, BigInts, Maps and Sets (superjson). */
export function serialize(value: unknown): string {
  return superjson.stringify(value);
}

/** The inverse of `serialize`. */
export function deserialize<T>(text: string): T {
  return superjson.parse<T>(text);
}

/** A TTL spread by ±`jitter` (a fraction), never below 1 ms. */
export function jitteredTtl(ttl_ms: number, jitter: number, random: () => number = Math.random): number {
  if (jitter <= 0) return ttl_ms;
  const spread = ttl_ms * jitter;
  return Math.max(1, Math.round(ttl_ms - spread + random() * 2 * spread));
}

/** Builds an entry written now. */
export function makeEntry<T>(
  value: T,
  options: { now: number; ttl_ms: number; grace_ms: number; tags: readonly string[]; bytes: number },
): CacheEntry<T> {
  const expires_at = options.now + options.ttl_ms;
  return { value, expires_at, stale_until: expires_at + options.grace_ms, tags: options.tags, bytes: options.bytes };
}
