// @diana/cache: a two-tier cache (in-process LRU over an optional shared store) that degrades instead of failing.

// The cache
export type { CacheDeps, CacheReadOptions, CacheService, CacheSetOptions, CacheStats } from './cache.js';
export { createCache } from './cache.js';

// Config
export type { CacheConfigInput } from './config.js';
export {
  CacheConfig,
  DEFAULT_CACHE_GRACE,
  DEFAULT_CACHE_TTL,
  DEFAULT_L1_MAX_BYTES,
  DEFAULT_L1_MAX_ENTRIES,
} from './config.js';

// Entries (their serialization is internal: the wire format belongs to the stores)
export type { CacheEntry } from './entry.js';

// The shared-tier port (adapter: @diana/cache/adapters/redis)
export type { CacheStore, CacheStoreListener, Invalidation, StoredEntry } from './types.js';

// Errors
export type { CacheErrorCode } from './errors.js';
export { CACHE_ERROR_CODES } from './errors.js';
