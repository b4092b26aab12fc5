import {
  type Clock,
  type Closeable,
  createCloser,
  DianaError,
  getPackageLogger,
  type Logger,
  parseOrThrow,
  SYSTEM_CLOCK,
} from '@diana/utils';
import * as v from 'valibot';
import { CacheConfig, type CacheConfigInput } from './config.js';
import { type CacheEntry, jitteredTtl, makeEntry, serialize } from './entry.js';
import { CACHE_ERROR_CODES } from './errors.js';
import { createL1 } from './l1.js';

/** Per-call options of `set` and `getOrSet`. */
export interface CacheSetOptions {
  /** @default config.default_ttl_ms */
  readonly ttl_ms?: number;
  /** @default config.grace_ms */
  readonly grace_ms?: number;
  /** Invalidate together with `deleteByTag`. */
  readonly tags?: readonly string[];
}

/** Per-call options of reads: a stored value that fails `schema` is a miss (and is counted). */
export interface CacheReadOptions<T> {
  readonly schema?: v.GenericSchema<unknown, T>;
}

/** Counters since the cache was created. */
export interface CacheStats {
  readonly l1_hits: number;
  readonly misses: number;
  readonly stale_served: number;
  readonly factory_calls: number;
  readonly factory_errors: number;
  readonly schema_misses: number;
  readonly l1_entries: number;
  readonly l1_bytes: number;
  readonly l1_evictions: number;
}

/** The cache every module receives as `deps.cache`. */
export interface CacheService extends Closeable {
  get<T>(key: string, options?: CacheReadOptions<T>): Promise<T | undefined>;
  set<T>(key: string, value: T, options?: CacheSetOptions): Promise<void>;
  /**
   * The cached value, or the factory's. Concurrent misses of one key run the factory once;
   * an expired entry within its grace period is served at once while one refresh runs.
   */
  getOrSet<T>(key: string, factory: () => Promise<T> | T, options?: CacheSetOptions & CacheReadOptions<T>): Promise<T>;
  delete(key: string): Promise<void>;
  deleteByTag(tag: string): Promise<void>;
  /** Removes every entry of this namespace (the whole cache at the root). */
  clear(): Promise<void>;
  /** A view whose keys live under `name`, sharing storage and stats. */
  namespace(name: string): CacheService;
  stats(): CacheStats;
}

/** What `createCache` needs besides its config. */
export interface CacheDeps {
  readonly clock?: Clock;
  readonly logger?: Logger;
}

const Key = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(512),
  v.check((k) => !k.includes('\u0000'), 'no NUL'),
);
const Name = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 of [A-Za-z0-9_.-]'));
const configError = { code: CACHE_ERROR_CODES.CACHE_CONFIG, message: 'invalid cache call' };

/**
 * The in-process tier with TTL + jitter, grace and single-flight. (The Redis tier, its
 * circuit breaker, pub/sub invalidation and cross-process leases stack on top of this.)
 */
export function createCache(config: CacheConfigInput = {}, deps: CacheDeps = {}): CacheService {
  const settings = parseOrThrow(CacheConfig, config, {
    code: CACHE_ERROR_CODES.CACHE_CONFIG,
    message: 'invalid cache config',
  });
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const logger = getPackageLogger(deps.logger, 'cache');
  const l1 = createL1({ max_entries: settings.l1_max_entries, max_bytes: settings.l1_max_bytes });
  const inFlight = new Map<string, Promise<unknown>>();
  const counters = { l1_hits: 0, misses: 0, stale_served: 0, factory_calls: 0, factory_errors: 0, schema_misses: 0 };
  const closer = createCloser(() => {
    l1.clear();
  });

  // `prefix` namespaces tags too: a namespace's deleteByTag never reaches another namespace.
  const store = <T>(key: string, value: T, options: CacheSetOptions, prefix: string) => {
    const ttl = jitteredTtl(options.ttl_ms ?? settings.default_ttl_ms, settings.ttl_jitter);
    const entry = makeEntry(value, {
      now: clock.now(),
      ttl_ms: ttl,
      grace_ms: options.grace_ms ?? settings.grace_ms,
      tags: (options.tags ?? []).map((tag) => `${prefix}${tag}`),
      bytes: serialize(value).length,
    });
    l1.set(key, entry);
  };

  // A stored entry that no longer matches the caller's schema is dropped and counted.
  const read = <T>(key: string, schema: v.GenericSchema<unknown, T> | undefined): CacheEntry<T> | undefined => {
    const entry = l1.get(key) as CacheEntry<T> | undefined;
    if (!entry || !schema || v.is(schema, entry.value)) return entry;
    counters.schema_misses++;
    l1.delete(key);
    return undefined;
  };

  const runFactory = <T>(
    key: string,
    factory: () => Promise<T> | T,
    options: CacheSetOptions,
    prefix: string,
  ): Promise<T> => {
    const running = inFlight.get(key) as Promise<T> | undefined;
    if (running) return running;
    const work = (async () => {
      counters.factory_calls++;
      try {
        const value = await factory();
        store(key, value, options, prefix);
        return value;
      } catch (error) {
        counters.factory_errors++;
        throw new DianaError(
          CACHE_ERROR_CODES.FACTORY_FAILED,
          `cache factory for "${key}" failed: ${(error as Error)?.message}`,
          {
            cause: error,
            context: { key },
          },
        );
      } finally {
        inFlight.delete(key);
      }
    })();
    inFlight.set(key, work);
    return work;
  };

  const view = (prefix: string): CacheService => {
    const full = (key: string) => `${prefix}${parseOrThrow(Key, key, configError)}`;
    return {
      async get<T>(key: string, options: CacheReadOptions<T> = {}) {
        const entry = read(full(key), options.schema);
        if (entry && clock.now() < entry.expires_at) {
          counters.l1_hits++;
          return entry.value;
        }
        counters.misses++;
        return undefined;
      },
      async set(key, value, options = {}) {
        store(full(key), value, options, prefix);
      },
      async getOrSet<T>(
        key: string,
        factory: () => Promise<T> | T,
        options: CacheSetOptions & CacheReadOptions<T> = {},
      ) {
        const k = full(key);
        const entry = read(k, options.schema);
        const now = clock.now();
        if (entry && now < entry.expires_at) {
          counters.l1_hits++;
          return entry.value;
        }
        if (entry && now < entry.stale_until) {
          counters.stale_served++;
          runFactory(k, factory, options, prefix).catch((error: unknown) => {
            logger.warn({ err: error, key: k }, 'background refresh failed; serving the stale value');
          });
          return entry.value;
        }
        counters.misses++;
        return runFactory(k, factory, options, prefix);
      },
      async delete(key) {
        l1.delete(full(key));
      },
      async deleteByTag(tag) {
        l1.deleteByTag(`${prefix}${parseOrThrow(Key, tag, configError)}`);
      },
      async clear() {
        l1.clear(prefix);
      },
      namespace: (name) => view(`${prefix}${parseOrThrow(Name, name, configError)}:`),
      stats: () => ({ ...counters, l1_entries: l1.size, l1_bytes: l1.bytes, l1_evictions: l1.evictions }),
      close: closer.close,
      [Symbol.asyncDispose]: closer.close,
    };
  };
  return view('');
}
