// The cache

export type { CacheDeps, CacheReadOptions, CacheService, CacheSetOptions, CacheStats } from './cache.js';
export { createCache } from './cache.js';
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
export type { CacheErrorCode } from './errors.js';
// Errors
export { CACHE_ERROR_CODES } from './errors.js';
// The shared-tier port (adapter: @diana/cache/adapters/redis)
export type { CacheStore, CacheStoreListener, Invalidation, StoredEntry } from './types.js';
