/** Codes of the errors this package raises. */
export const CACHE_ERROR_CODES = Object.freeze({
  /** The factory failed and no value (fresh or within grace) could be served. */
  FACTORY_FAILED: 'E_CACHE_FACTORY_FAILED',
  /** Invalid configuration, key or options. */
  CACHE_CONFIG: 'E_CACHE_CONFIG',
  /** The factory's value fails the `schema` of its `getOrSet` call; nothing was stored. */
  CACHE_SCHEMA: 'E_CACHE_SCHEMA',
  /** A value the cache cannot store as written (binary data); nothing was stored. */
  CACHE_VALUE: 'E_CACHE_VALUE',
  /** The cache is closed. */
  CACHE_CLOSED: 'E_CACHE_CLOSED',
} as const);

/** A code of `CACHE_ERROR_CODES`. */
export type CacheErrorCode = (typeof CACHE_ERROR_CODES)[keyof typeof CACHE_ERROR_CODES];
