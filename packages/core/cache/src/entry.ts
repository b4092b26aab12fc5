import { DianaError } from '@diana/utils';
import { SuperJSON } from 'superjson';
import { CACHE_ERROR_CODES } from './errors.js';

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

// Our own superjson instance (the global one is left alone) that refuses binary data anywhere in
// a value: superjson writes a Node Buffer it cannot read back ("unknown typed array"), writes an
// ArrayBuffer or a DataView as `{}`, and a typed array's text can weigh a fraction of its bytes
// in the memory tier's budget. Refused while superjson walks the value anyway: no extra pass.
const codec = new SuperJSON();
const isBinary = (value: unknown): value is ArrayBufferView | ArrayBuffer =>
  ArrayBuffer.isView(value) ||
  value instanceof ArrayBuffer ||
  (typeof SharedArrayBuffer === 'function' && value instanceof SharedArrayBuffer);
codec.registerCustom<ArrayBufferView | ArrayBuffer, string>(
  {
    isApplicable: isBinary,
    serialize: (value) => {
      throw new DianaError(
        CACHE_ERROR_CODES.CACHE_VALUE,
        `the cache cannot store binary data (${value.constructor.name}): store it as a base64 string; nothing was stored`,
      );
    },
    deserialize: () => {
      throw new Error('binary data is never written');
    },
  },
  'binary',
);

/**
 * Serialization that keeps Dates, BigInts, Maps and Sets (superjson); throws `E_CACHE_VALUE` for
 * binary data (Buffer, ArrayBuffer, DataView, typed arrays), which would not come back as written.
 */
export function serialize(value: unknown): string {
  return codec.stringify(value);
}

/** The inverse of `serialize`; throws on text it cannot read (the cache then treats it as a miss). */
export function deserialize<T>(text: string): T {
  return codec.parse<T>(text);
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
