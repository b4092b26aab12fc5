// The cache service: two tiers (L1 in process, L2 a shared store), stampede protection with
// leases, stale-while-revalidate, tags, and a breaker that degrades to L1 when L2 fails. Over 300
// lines because every read path shares the breaker, the leases and the invalidation listener.
import { randomUUID } from 'node:crypto';
import {
  type Clock,
  type Closeable,
  createCloser,
  DianaError,
  fromValibotIssues,
  getPackageLogger,
  isDianaError,
  type Logger,
  parseOrThrow,
  SYSTEM_CLOCK,
  ValidationError,
  waitWithin,
} from '@diana/utils';
import * as v from 'valibot';
import { CacheConfig, type CacheConfigInput } from './config.js';
import { type CacheEntry, deserialize, jitteredTtl, makeEntry, serialize } from './entry.js';
import { CACHE_ERROR_CODES } from './errors.js';
import { createL1 } from './l1.js';
import { createCacheMetrics } from './metrics.js';
import type { CacheStore } from './types.js';

/** Per-call options of `set` and `getOrSet`. */
export interface CacheSetOptions {
  /** Whole milliseconds, at least 1 (else `E_CACHE_CONFIG`). @default config.default_ttl_ms */
  readonly ttl_ms?: number;
  /** Whole milliseconds, at least 0 (else `E_CACHE_CONFIG`). @default config.grace_ms */
  readonly grace_ms?: number;
  /** Invalidate together with `deleteByTag`; each 1–512 characters, no NUL, like a key. */
  readonly tags?: readonly string[];
  /**
   * This process's memory only: no Redis read, write or refresh lease. For small values whose
   * source is as cheap to read as Redis (a row by primary key), where a shared-tier miss costs
   * more round trips than the source. A `delete`, `set`, `deleteByTag` or `clear` from any
   * process still drops the copy (a local `set` sends its notice too). @default false
   */
  readonly local?: boolean;
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
  readonly l2_hits: number;
  /** Redis calls that failed or were skipped by the open breaker (answered from memory). */
  readonly l2_failures: number;
  readonly breaker_open: boolean;
  /**
   * Whether this process hears other processes' invalidations (always, without a shared tier).
   * Until it does, shared entries are read from Redis each time: no memory copy is kept that a
   * missed notice could leave stale.
   */
  readonly listening: boolean;
  /** Waits for another process's refresh that ran out (then this process ran the factory). */
  readonly lease_timeouts: number;
  /** Factory runs (misses or refreshes) in progress in this process. */
  readonly in_flight: number;
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
  /**
   * Drops the entry here and in Redis, and tells every process to drop its copy. `local: true`
   * drops this process's copy only (no Redis, no notice): for `local` entries whose change every
   * process hears anyway (a broadcast event).
   */
  delete(key: string, options?: { readonly local?: boolean }): Promise<void>;
  deleteByTag(tag: string): Promise<void>;
  /** Removes every entry of this namespace (the whole cache at the root). */
  clear(): Promise<void>;
  /** A view whose keys live under `name`, sharing storage and stats. */
  namespace(name: string): CacheService;
  stats(): CacheStats;
  /**
   * Closes the cache and its store once the calls in progress have finished (their fills stored,
   * their leases released); `timeout_ms` (default 1 000) bounds both together. Idempotent.
   */
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
}

/** What `createCache` needs besides its config. */
export interface CacheDeps {
  /**
   * The shared tier (`createRedisCacheStore` from `@diana/cache/adapters/redis`); without it the
   * cache is in-process only (embedded default). It serves this cache alone and is closed with it.
   */
  readonly store?: CacheStore;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

// How often a process waiting for another one's refresh looks for the value.
const LEASE_POLL_MS = 20;

const Key = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(512),
  v.check((k) => !k.includes('\u0000'), 'no NUL'),
);
const Name = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,64}$/, 'must be 1–64 of [A-Za-z0-9_.-]'));
const configError = { code: CACHE_ERROR_CODES.CACHE_CONFIG, message: 'invalid cache call' };
// A write's options: whole milliseconds (Redis refuses `PX 1.5`, and such a write counted as a Redis
// failure), tags as keys (what deleteByTag accepts). Checked before anything is written or computed.
const WriteOptions = v.looseObject({
  ttl_ms: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1))),
  grace_ms: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(0))),
  tags: v.optional(v.array(Key)),
});
const optionsError = { code: CACHE_ERROR_CODES.CACHE_CONFIG, message: 'invalid cache write options' };

/** A read of the shared tier on its way: overtaken by a write or invalidation of its key; tags dropped meanwhile. */
interface InFlightRead {
  readonly key: string;
  overtaken: boolean;
  tags?: string[];
}

/**
 * Two tiers: an in-process LRU over Redis. TTL + jitter, grace, single flight in a process and
 * a refresh lease across processes, invalidation heard by every process, and a circuit
 * breaker that turns a failing Redis into misses instead of errors.
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
  // the schema of a run's own caller, when it gave one
  const runSchemas = new WeakMap<Promise<unknown>, v.GenericSchema>();
  // The factories running in this process, by key: a write or an invalidation of the key meanwhile
  // (here or heard) overtakes its fill, which then keeps no memory copy (Redis refuses it by its lease).
  const fills = new Map<string, { readonly tags: readonly string[]; overtaken: boolean }>();
  // The Redis reads in flight in this process: a write or an invalidation of their key meanwhile
  // overtakes them too, and their answer, older than it, is kept in no memory copy (before, a
  // read answered after this process's own `set` or `delete` put the old value back here until
  // its TTL: a reviewer's 200 of 200). Their tags come with the answer: a tag dropped meanwhile
  // is noted, and matched then.
  const reads = new Set<InFlightRead>();
  const overtake = (hit: (key: string, tags: readonly string[]) => boolean) => {
    for (const [key, run] of fills) if (hit(key, run.tags)) run.overtaken = true;
    for (const run of reads) if (hit(run.key, [])) run.overtaken = true; // (by tag: dropTag)
  };
  const dropKey = (key: string) => {
    l1.delete(key);
    overtake((k) => k === key);
  };
  const dropTag = (tag: string) => {
    l1.deleteByTag(tag);
    overtake((_, tags) => tags.includes(tag));
    for (const run of reads) {
      run.tags ??= [];
      run.tags.push(tag);
    }
  };
  const dropPrefix = (prefix = '') => {
    l1.clear(prefix);
    overtake((k) => k.startsWith(prefix));
  };
  const metrics = createCacheMetrics();
  const counters = metrics.counts;
  const origin = randomUUID();
  const l2: CacheStore | undefined = deps.store;
  const unsubscribe = l2?.subscribe({
    onInvalidation: (message) => {
      if (message.o === origin) return;
      if (message.k !== undefined) dropKey(message.k);
      if (message.t !== undefined) dropTag(message.t);
      if (message.p !== undefined) dropPrefix(message.p);
    },
    // Invalidations may have been missed while not listening: drop everything local.
    onResubscribed: () => dropPrefix(),
  });
  // Whether this process hears invalidations (a store without the flag counts as listening).
  const listening = () => l2?.listening !== false;
  // A memory copy is kept only while this process hears invalidations — or while Redis is known
  // to be down (the breaker open: memory is then the cache, and the next subscription drops it).
  const keepsCopies = () => listening() || l2?.breakerOpen === true;
  const stopObserving = metrics.observe(() => ({
    breaker_open: l2?.breakerOpen ?? false,
    listening: listening(),
    l1_entries: l1.size,
    l1_bytes: l1.bytes,
  }));
  const closer = createCloser(async ({ timeout_ms = 1_000 }) => {
    // Calls in progress finish first (new ones are refused): their fills land and their leases are
    // released, or other processes wait lock_ttl_ms on those keys. Within the same timeout.
    const started = performance.now();
    await waitWithin(Promise.allSettled(inFlight.values()), timeout_ms);
    timeout_ms = Math.max(0, timeout_ms - (performance.now() - started));
    stopObserving();
    unsubscribe?.();
    l1.clear();
    await l2?.close({ timeout_ms });
  });
  const { close } = closer;

  // An entry written now, and its serialized text (its weight; what the shared tier stores).
  // `prefix` namespaces tags too: a namespace's deleteByTag never reaches another namespace.
  const prepare = <T>(value: T, options: CacheSetOptions, prefix: string) => {
    const ttl = jitteredTtl(options.ttl_ms ?? settings.default_ttl_ms, settings.ttl_jitter);
    const text = serialize(value);
    const entry = makeEntry(value, {
      now: clock.now(),
      ttl_ms: ttl,
      grace_ms: options.grace_ms ?? settings.grace_ms,
      tags: (options.tags ?? []).map((tag) => `${prefix}${tag}`),
      bytes: text.length,
    });
    const stored = { v: text, e: entry.expires_at, s: entry.stale_until, t: entry.tags };
    return { entry, stored, ttl_ms: entry.stale_until - clock.now() };
  };

  // A `set`: written with its invalidation notice, so other processes drop their copy.
  const store = async <T>(key: string, value: T, options: CacheSetOptions, prefix: string) => {
    const { entry, stored, ttl_ms } = prepare(value, options, prefix);
    overtake((k) => k === key);
    if (keepsCopies()) l1.set(key, entry);
    if (l2 && options.local) await l2.publish({ o: origin, k: key });
    else if (l2) await l2.set(key, stored, ttl_ms, { o: origin, k: key });
  };

  // A factory's fill sends no notice: the key was missing or expired in Redis, and another
  // process's memory then holds no newer value (a `delete` or `set` since its read sent a notice
  // that dropped it; an expiry ended it there too), so a notice per fill is only traffic. It lands
  // in Redis only while `token` still holds the key's lease: a `set`, `delete` or `deleteByTag`
  // since the fill began dropped it, and theirs stands. The memory copy follows: taken before the
  // write (a notice after the write finds it to drop), dropped when the fill did not land.
  // `shared`: the tier to write to (none when this call's Redis step already failed, or `local`);
  // `token`: the lease this fill holds (none: it holds none, and stores nothing in Redis);
  // `overtaken`: a write or invalidation of the key came while the factory ran (no memory copy).
  const fill = async <T>(
    key: string,
    value: T,
    options: CacheSetOptions,
    prefix: string,
    shared: CacheStore | undefined,
    token: string | undefined,
    overtaken: boolean,
  ) => {
    const { entry, stored, ttl_ms } = prepare(value, options, prefix);
    if (keepsCopies() && !overtaken) l1.set(key, entry);
    if (!shared) return;
    const landed = token !== undefined && (await shared.fill(key, stored, ttl_ms, token));
    if (!landed && l1.get(key) === entry) l1.delete(key);
  };

  // A stored entry that no longer matches the caller's schema is dropped (lookup counts it).
  const read = <T>(key: string, schema: v.GenericSchema<unknown, T> | undefined) => {
    const entry = l1.get(key) as CacheEntry<T> | undefined;
    if (!entry || !schema || v.is(schema, entry.value)) return { entry, mismatch: false };
    l1.delete(key);
    return { entry: undefined, mismatch: true };
  };

  // The shared tier's entry, adopted into this process's tier.
  const readL2 = async <T>(key: string, schema: v.GenericSchema<unknown, T> | undefined) => {
    const run: InFlightRead = { key, overtaken: false };
    reads.add(run);
    let stored: Awaited<ReturnType<CacheStore['get']>>;
    try {
      stored = await l2?.get(key);
    } finally {
      reads.delete(run);
    }
    if (!stored || clock.now() >= stored.s) return { entry: undefined, mismatch: false };
    let value: T;
    try {
      value = deserialize<T>(stored.v);
    } catch (error) {
      // written by another version, or by hand: a miss (the factory's fill replaces it), never
      // an error the caller cannot act on
      logger.warn({ err: error, key }, 'unreadable cache entry in the shared tier: treated as a miss');
      return { entry: undefined, mismatch: false };
    }
    if (schema && !v.is(schema, value)) return { entry: undefined, mismatch: true };
    const entry: CacheEntry<T> = {
      value,
      expires_at: stored.e,
      stale_until: stored.s,
      tags: stored.t,
      bytes: stored.v.length,
    };
    const overtaken = run.overtaken || run.tags?.some((tag) => entry.tags.includes(tag)) === true;
    if (keepsCopies() && !overtaken) l1.set(key, entry);
    return { entry, mismatch: false };
  };

  // Looks in memory, then in Redis; says which tier answered. A read counts in one tier, and a
  // schema mismatch counts once however many tiers held the old value. An expired memory copy
  // does not hide Redis (another process's fill, which sends no notice, may be fresh there); it
  // is the answer only when Redis has none (within grace, or Redis failing). Nor does a copy taken
  // while listening answer first while deaf (a lost subscription: a notice missed meanwhile would
  // leave it stale): Redis does, and the copy only if that read fails (Redis down: memory is the
  // cache then). `local` entries live nowhere else.
  const lookup = async <T>(key: string, schema: v.GenericSchema<unknown, T> | undefined, localOnly = false) => {
    const local = read(key, schema);
    const trusted = localOnly || keepsCopies();
    if (trusted && local.entry && clock.now() < local.entry.expires_at)
      return { entry: local.entry, tier: 'l1_hits' as const };
    const failures = l2?.failures;
    const shared = l2 && !localOnly ? await readL2(key, schema) : { entry: undefined, mismatch: false };
    if (local.mismatch || shared.mismatch) metrics.count('schema_misses');
    if (!shared.entry && local.entry && (trusted || l2?.failures !== failures))
      return { entry: local.entry, tier: 'l1_hits' as const };
    return { entry: shared.entry, tier: 'l2_hits' as const };
  };

  // Another process holds the refresh lease: wait for its value until the lease would expire.
  // A value that fails this caller's schema is not waited for: this process runs the factory.
  // A lease that ends with no value (the other factory failed, or a delete or set dropped the
  // lease) is taken at the next poll: `leased` says this caller now holds it under `token`.
  const awaitOtherRefresh = async <T>(
    key: string,
    schema: v.GenericSchema<unknown, T> | undefined,
    token: string,
    tags: readonly string[],
  ): Promise<{ entry?: CacheEntry<T>; leased: boolean }> => {
    const deadline = performance.now() + settings.lock_ttl_ms;
    const failures = l2?.failures;
    // Redis failed (or stalled past command_timeout_ms): asking again would cost each poll one
    // more timeout; the caller computes without Redis, as after any failed step
    const failed = () => l2?.failures !== failures;
    const fresh = (entry: CacheEntry<T> | undefined) => entry !== undefined && clock.now() < entry.expires_at;
    while (l2 && performance.now() < deadline && !l2.breakerOpen) {
      await new Promise((resolve) => setTimeout(resolve, LEASE_POLL_MS));
      const { entry, mismatch } = await readL2<T>(key, schema);
      if (failed() || mismatch) return { leased: false };
      if (fresh(entry)) return { entry, leased: false };
      if (!(await l2.acquireLease(key, token, settings.lock_ttl_ms, tags))) {
        if (failed()) return { leased: false };
        continue;
      }
      if (failed()) return { leased: false };
      // the lease may be free because the other process stored its value just after this read
      const again = await readL2<T>(key, schema);
      if (!failed() && fresh(again.entry)) {
        await l2.releaseLease(key, token);
        return { entry: again.entry, leased: false };
      }
      return { leased: !failed() };
    }
    metrics.count('lease_timeouts');
    return { leased: false };
  };

  // `reachable`: false when the caller's own look in Redis just failed. A step of the refresh
  // that fails skips Redis for the steps after it: a Redis that does not answer costs a call one
  // `command_timeout_ms`, not one per step (a read, a lease, a second read, the fill, the
  // release), until the breaker opens. (The store counts every failure: another call's, at the
  // same moment, skips Redis here too — Redis is failing then.)
  const runFactory = <T>(
    key: string,
    factory: () => Promise<T> | T,
    options: CacheSetOptions & CacheReadOptions<T>,
    prefix: string,
    reachable = true,
  ): Promise<T> => {
    const running = inFlight.get(key) as Promise<T> | undefined;
    // A caller with a schema takes a running factory's value only if it passes: the run may be
    // another caller's, without a schema or with another one. Else it runs its own factory. A run
    // refused by another schema than this caller's (its caller's) is no answer either: this caller
    // runs its own factory (one with the same schema shares the refusal: no second run).
    const schema = options.schema;
    if (running) {
      const own = () => runFactory(key, factory, options, prefix, reachable);
      const refusedByOther = runSchemas.get(running) !== schema;
      return running.then(
        (value) => {
          if (!schema || v.is(schema, value)) return value;
          metrics.count('schema_misses');
          return own();
        },
        (error: unknown) => {
          if (refusedByOther && isDianaError(error, CACHE_ERROR_CODES.CACHE_SCHEMA)) return own();
          throw error;
        },
      );
    }
    // a `local` value is computed by each process on its own: no lease, no second look in Redis
    const shared = options.local || !reachable ? undefined : l2;
    const failures = shared?.failures;
    const answering = () => (shared?.failures === failures ? shared : undefined);
    // the fill's tags join their sets with the lease: a deleteByTag during the factory drops it
    const tags = (options.tags ?? []).map((tag) => `${prefix}${tag}`);
    const run = { tags, overtaken: false };
    const work = (async () => {
      fills.set(key, run);
      const token = randomUUID();
      const leased = shared ? await shared.acquireLease(key, token, settings.lock_ttl_ms, tags) : true;
      // the lease this call holds (to fill under, or release): only one Redis granted
      let held = leased && answering() !== undefined;
      try {
        if (!leased) {
          const waited = await awaitOtherRefresh<T>(key, options.schema, token, tags);
          if (waited.entry) return waited.entry.value;
          if (waited.leased) held = answering() !== undefined;
          else {
            // the other refresh ran out (or its value fails this caller's schema): take the lease,
            // so that a write or invalidation during this factory still wins over its fill
            const tier = answering();
            held = tier !== undefined && (await tier.acquireLease(key, token, settings.lock_ttl_ms, tags));
            held &&= answering() !== undefined;
          }
        } else if (answering()) {
          // the lease may be free because another process just stored the value and let it go
          // (its lease ended between this caller's miss and its lease): read once more
          const { entry } = await readL2<T>(key, options.schema);
          if (entry && clock.now() < entry.expires_at) return entry.value;
        }
        metrics.count('factory_calls');
        let value: T;
        try {
          value = await factory();
        } catch (error) {
          metrics.count('factory_errors');
          throw new DianaError(
            CACHE_ERROR_CODES.FACTORY_FAILED,
            `cache factory for "${key}" failed: ${(error as Error)?.message}`,
            {
              cause: error,
              context: { key },
            },
          );
        }
        // Checked before it is stored: a value that fails the schema would otherwise be served,
        // typed as valid, to every process until it expires.
        const refused = options.schema ? checkFactoryValue(key, options.schema, value) : undefined;
        if (refused) {
          metrics.count('factory_errors');
          throw refused;
        }
        // the fill releases the lease it holds (whether it lands or not)
        const filling = held;
        held = false;
        try {
          await fill(key, value, options, prefix, answering(), filling ? token : undefined, run.overtaken);
        } catch (error) {
          // a value the cache cannot store (E_CACHE_VALUE): refused like one failing its schema,
          // before any write (the lease is still to release)
          held = filling;
          metrics.count('factory_errors');
          throw error;
        }
        return value;
      } finally {
        // Release before leaving the in-flight set: "nothing in flight" means no lease held.
        if (held && answering()) await shared?.releaseLease(key, token);
        if (fills.get(key) === run) fills.delete(key);
        inFlight.delete(key);
      }
    })();
    inFlight.set(key, work);
    if (schema) runSchemas.set(work, schema);
    return work;
  };

  // A closed cache refuses every call but stats() and close(): its store and listener are gone.
  const refuseClosed = () => {
    if (closer.closed) throw new DianaError(CACHE_ERROR_CODES.CACHE_CLOSED, 'the cache is closed');
  };

  const view = (prefix: string): CacheService => {
    const full = (key: string) => {
      refuseClosed();
      return `${prefix}${parseOrThrow(Key, key, configError)}`;
    };
    return {
      async get<T>(key: string, options: CacheReadOptions<T> = {}) {
        const { entry, tier } = await lookup(full(key), options.schema);
        if (entry && clock.now() < entry.expires_at) {
          metrics.count(tier);
          return entry.value;
        }
        metrics.count('misses');
        return undefined;
      },
      async set(key, value, options = {}) {
        const k = full(key);
        parseOrThrow(WriteOptions, options, optionsError);
        await store(k, value, options, prefix);
      },
      async getOrSet<T>(
        key: string,
        factory: () => Promise<T> | T,
        options: CacheSetOptions & CacheReadOptions<T> = {},
      ) {
        const k = full(key);
        const failures = l2?.failures;
        const { entry, tier } = await lookup(k, options.schema, options.local);
        const reachable = l2?.failures === failures;
        const now = clock.now();
        if (entry && now < entry.expires_at) {
          metrics.count(tier);
          return entry.value;
        }
        // checked where a write may follow (a hit writes nothing: no cost on the hot path)
        parseOrThrow(WriteOptions, options, optionsError);
        if (entry && now < entry.stale_until) {
          metrics.count('stale_served');
          runFactory(k, factory, options, prefix, reachable).catch((error: unknown) => {
            logger.warn({ err: error, key: k }, 'background refresh failed; serving the stale value');
          });
          return entry.value;
        }
        metrics.count('misses');
        return runFactory(k, factory, options, prefix, reachable);
      },
      async delete(key, options = {}) {
        const k = full(key);
        dropKey(k);
        if (!options.local) await l2?.delete(k, { o: origin, k });
      },
      async deleteByTag(tag) {
        const t = full(tag);
        dropTag(t);
        await l2?.deleteByTag(t);
        await l2?.publish({ o: origin, t });
      },
      async clear() {
        refuseClosed();
        dropPrefix(prefix);
        await l2?.clear(prefix);
        await l2?.publish({ o: origin, p: prefix });
      },
      namespace: (name) => view(`${prefix}${parseOrThrow(Name, name, configError)}:`),
      stats: () => ({
        ...counters,
        l1_entries: l1.size,
        l1_bytes: l1.bytes,
        l1_evictions: l1.evictions,
        in_flight: inFlight.size,
        l2_failures: l2?.failures ?? 0,
        breaker_open: l2?.breakerOpen ?? false,
        listening: listening(),
      }),
      close,
      [Symbol.asyncDispose]: closer[Symbol.asyncDispose],
    };
  };
  return view('');
}

// The E_CACHE_SCHEMA error for a factory value that fails its schema; undefined when it passes.
function checkFactoryValue<T>(
  key: string,
  schema: v.GenericSchema<unknown, T>,
  value: unknown,
): ValidationError<'E_CACHE_SCHEMA'> | undefined {
  const result = v.safeParse(schema, value);
  if (result.success) return undefined;
  // Paths and expectations only: the value itself may be anything, secrets included.
  const issues = fromValibotIssues(result.issues).map(({ path, expected }) => ({
    path,
    message: expected ? `expected ${expected}` : 'does not match',
    expected,
  }));
  return new ValidationError(
    CACHE_ERROR_CODES.CACHE_SCHEMA,
    `cache factory for "${key}" returned a value that fails its schema; nothing was stored`,
    issues,
    { context: { key } },
  );
}
