import {
  createBackoff,
  createCloser,
  DianaError,
  getPackageLogger,
  newId,
  parseOrThrow,
  SYSTEM_CLOCK,
  sleep,
  waitWithin,
} from '@diana/utils';
import { LRUCache } from 'lru-cache';
import { createMemorySliceStore } from './adapters/memory.js';
import { createPostgresSliceStore } from './adapters/postgres.js';
import { createRedisSliceCache, createRedisSliceStore, type SliceCache } from './adapters/redis.js';
import { UserStateConfig, type UserStateConfigInput } from './config.js';
import { USER_STATE_ERROR_CODES } from './errors.js';
import type { UserStateDeps, UserStateManager } from './manager-types.js';
import { createUserStateMetrics } from './metrics.js';
import type { SliceDefinition } from './slice.js';
import { decodeSlice, encodeSlice } from './slice-codec.js';
import { isNotSent, type SliceConflict, type SliceStore, type StoredSlice } from './types.js';

export type { SliceName, UserStateDeps, UserStateManager, UserStateStats, ValueOf } from './manager-types.js';

const USER_ID = /^[A-Za-z0-9_.:-]{1,128}$/;
/** Recent records an update may start from (see `recent`): how many, how long. */
const RECENT_MAX = 10_000;
const RECENT_TTL_MS = 5_000;
const isConflict = (written: StoredSlice | SliceConflict | undefined): written is SliceConflict =>
  written !== undefined && 'conflict' in written;

/** The manager over PostgreSQL (persistent slices) and Redis or memory (ephemeral slices). */
export function createUserStateManager<const S extends readonly SliceDefinition[]>(
  config: UserStateConfigInput,
  deps: UserStateDeps<S>,
): UserStateManager<S> {
  const settings = parseOrThrow(UserStateConfig, config, {
    code: USER_STATE_ERROR_CODES.STATE_CONFIG,
    message: 'invalid user-state config',
  });
  const logger = getPackageLogger(deps.logger, 'user-state');
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const configError = (message: string, context?: Record<string, unknown>) =>
    new DianaError(USER_STATE_ERROR_CODES.STATE_CONFIG, message, context ? { context } : {});

  const slices = new Map<string, SliceDefinition>();
  for (const slice of deps.slices) {
    if (slices.has(slice.name)) throw configError(`slice '${slice.name}' is defined twice`);
    slices.set(slice.name, slice);
  }
  const needsPersistent = deps.slices.some((s) => s.persist);
  if (needsPersistent && !deps.db && !deps.stores?.persistent)
    throw configError('persistent slices need deps.db (or deps.stores.persistent)');
  if (deps.slices.some((s) => s.notify) && !deps.bus) throw configError('slices with notify need deps.bus');

  const redis = deps.store;
  const metrics = createUserStateMetrics();
  const persistent: SliceStore =
    deps.stores?.persistent ??
    (deps.db
      ? createPostgresSliceStore(deps.db, { batch_max: settings.postgres_batch_max })
      : createMemorySliceStore({ clock }));
  const ephemeral: SliceStore =
    deps.stores?.ephemeral ?? (redis ? createRedisSliceStore(redis) : createMemorySliceStore({ clock }));
  // Redis caches rows only of the PostgreSQL home built here.
  const cache: SliceCache | undefined =
    redis && deps.db && !deps.stores?.persistent
      ? createRedisSliceCache(redis, settings.cache_ttl_ms, (error) => {
          metrics.cache('error');
          logger.debug({ err: error }, 'user-state cache command failed; reading PostgreSQL');
        })
      : undefined;
  if (cache) metrics.cacheFromZero();
  const db = deps.db;
  const inTransaction = () => db !== undefined && db.session() !== db.sql;
  const afterCommit = (work: () => Promise<void>) => (db ? db.onCommit(work) : work());

  // Updates already running end first (within the timeout): their cache refresh needs Redis, and
  // a row committed with its cached copy left behind would be read stale by other processes
  // until the copy's TTL. Updates waiting for their turn are refused (E_STATE_CLOSED).
  const closer = createCloser(async ({ timeout_ms = 1_000 }) => {
    await waitWithin(Promise.allSettled([...turns.values(), ...unqueued]), timeout_ms);
    await redis?.close({ timeout_ms });
  });
  const assertOpen = () => {
    if (closer.closed) throw new DianaError(USER_STATE_ERROR_CODES.STATE_CLOSED, 'the user-state manager is closed');
  };
  const sliceOf = (name: string): SliceDefinition => {
    const slice = slices.get(name);
    if (!slice) throw configError(`unknown slice '${name}'`, { slice: name });
    return slice;
  };
  const checkUser = (user_id: string) => {
    if (typeof user_id !== 'string' || !USER_ID.test(user_id))
      throw configError('a user id is 1–128 characters of [A-Za-z0-9_.:-]', { user_id: String(user_id).slice(0, 140) });
  };
  const homeOf = (slice: SliceDefinition) => (slice.persist ? persistent : ephemeral);
  const unavailable = (slice: SliceDefinition, error: unknown, context: Record<string, unknown> = {}) =>
    new DianaError(
      USER_STATE_ERROR_CODES.STATE_UNAVAILABLE,
      `the ${homeOf(slice).name} home of slice '${slice.name}' did not answer`,
      { cause: error, context: { slice: slice.name, ...context } },
    );

  // The record this process read outside a transaction, or committed, moments ago (per user and
  // slice). A home that answers a lost compare-and-set with the record that stands (Redis, and
  // PostgreSQL whenever its statement saw that record) is written first on a guess, and read
  // only when the guess was wrong and the refusal told nothing: the remembered record, or, for
  // a user it has not seen (and, outside a transaction, whose persistent row the cache does not
  // hold), no record. A remembered record found stale is a race lost (a conflict, an attempt);
  // a wrong "no record" is neither. Inside a transaction a persistent slice starts from the
  // remembered record too (typically the read the handler made just before its transaction);
  // found stale there, it is not a race lost either: the refusal's record is used at once.
  // "Nothing to change", which writes nothing, is never decided on a guess: the record is read
  // and `fn` runs again.
  const guesses = (slice: SliceDefinition) => homeOf(slice).answers_conflicts === true;
  const recent = new LRUCache<string, { stored: StoredSlice | undefined }>({ max: RECENT_MAX, ttl: RECENT_TTL_MS });
  const recentKey = (user_id: string, slice: SliceDefinition) => `${user_id}\u0000${slice.name}`;
  const remember = (user_id: string, slice: SliceDefinition, stored: StoredSlice | undefined) => {
    if (slice.persist || guesses(slice)) recent.set(recentKey(user_id, slice), { stored });
  };

  /** Stores a record in the cache and the recent records (once the transaction, if any, commits). */
  const fill = async (user_id: string, slice: SliceDefinition, stored: StoredSlice | undefined) => {
    if (!slice.persist) return remember(user_id, slice, stored);
    await afterCommit(async () => {
      remember(user_id, slice, stored);
      await cache?.put(user_id, slice.name, stored);
    });
  };
  /**
   * The record from its home (or the cache, unless `fresh`); `home` says it came from the home,
   * so the cache is to be refreshed with it (`fill`), unless a write follows that puts its own.
   * `guess`: the record is what this process saw last, `'none'` when it saw none (`forWrite`
   * only: the write checks it); `'transaction'` marks the persistent guess inside one.
   */
  const readRecord = async (
    user_id: string,
    slice: SliceDefinition,
    fresh: boolean,
    forWrite = false,
  ): Promise<{ stored: StoredSlice | undefined; home: boolean; guess?: 'seen' | 'none' | 'transaction' }> => {
    const outside = !inTransaction();
    if (!fresh) {
      const guess = forWrite && guesses(slice);
      // (an update only: its compare-and-set checks the remembered row; a `get` in a transaction
      // reads the row — the remembered one misses the transaction's own writes, committed after
      // it, and others' committed since)
      const inside = forWrite && slice.persist && !outside;
      if (inside || guess) {
        const seen = recent.get(recentKey(user_id, slice));
        if (seen) return { stored: seen.stored, home: false, guess: inside ? 'transaction' : 'seen' };
      }
      if (slice.persist && outside && cache) {
        const lookup = await cache.get(user_id, slice.name);
        metrics.cache(lookup.hit ? 'hit' : 'miss');
        if (lookup.hit) {
          remember(user_id, slice, lookup.stored);
          return { stored: lookup.stored, home: false };
        }
      }
      if (guess) return { stored: undefined, home: false, guess: 'none' };
    }
    let stored: StoredSlice | undefined;
    try {
      stored = await homeOf(slice).read(user_id, slice.name);
    } catch (error) {
      throw unavailable(slice, error);
    }
    if (outside || !slice.persist) remember(user_id, slice, stored);
    return { stored, home: true };
  };

  /** The stored data as the current version's value: migrated, validated, frozen. */
  /** The compare-and-set, with the event in the same transaction for persistent notify slices. */
  const write = async (
    user_id: string,
    slice: SliceDefinition,
    expected: string | undefined,
    data: unknown,
    write_id: string,
  ): Promise<StoredSlice | SliceConflict | undefined> => {
    const value = { data, schema_version: slice.version, write_id, ttl_ms: slice.ttl_ms };
    const bus = deps.bus;
    if (slice.persist && slice.notify && bus && db && !deps.stores?.persistent) {
      // the row and its event in one transaction (the caller's, if any): the event goes to the
      // outbox of this db (named, so that this holds on any bus)
      return db.transaction(async () => {
        const stored = await persistent.write(user_id, slice.name, expected, value);
        if (stored && !isConflict(stored))
          await bus.publish(
            'user.state_changed',
            { user_id, slice: slice.name, version: stored.version },
            { key: user_id, db },
          );
        return stored;
      });
    }
    const stored = await homeOf(slice).write(user_id, slice.name, expected, value);
    if (stored && !isConflict(stored) && slice.notify && bus) {
      // a write outside PostgreSQL stands whatever the caller's transaction does: so does its event
      await bus
        .publish(
          'user.state_changed',
          { user_id, slice: slice.name, version: stored.version },
          { key: user_id, direct: true },
        )
        .catch((error: unknown) => {
          metrics.notifyError(slice.name);
          logger.error({ err: error, slice: slice.name }, 'user.state_changed not published');
        });
    }
    return stored;
  };

  /**
   * A write whose reply was lost: read back whether it landed. Its write id there: it did. Not
   * there, it did not only when the record is still the one it expected (or none, where it
   * expected none), or the one another writer made in its place; a record further on may stand
   * over it, so the outcome is unknown.
   */
  const settle = async (
    user_id: string,
    slice: SliceDefinition,
    expected: string | undefined,
    write_id: string,
    error: unknown,
  ) => {
    if (isNotSent(error)) throw unavailable(slice, error, { outcome: 'not_written' });
    if (inTransaction()) throw unavailable(slice, error);
    const home = homeOf(slice);
    let stored: StoredSlice | undefined;
    try {
      stored = await home.read(user_id, slice.name);
    } catch {
      throw unavailable(slice, error, { outcome: 'unknown' });
    }
    if (stored?.write_id === write_id) return stored;
    const missed = stored === undefined || stored.token === expected || home.follows?.(stored, expected) === true;
    throw unavailable(slice, error, { outcome: missed ? 'not_written' : 'unknown' });
  };

  // Turn-taking: this manager runs the updates of one (user, slice) one after another, so
  // concurrent callers in one process do not race each other's compare-and-sets (only other
  // processes can still win one). Entries leave the map when their chain is idle.
  const turns = new Map<string, Promise<unknown>>();
  // Updates of PostgreSQL rows inside a caller's transaction take no turn: the row lock orders
  // them. A turn there could wait behind another caller's update that waits for this
  // transaction's row lock: a deadlock through a promise, which PostgreSQL cannot see (a
  // reviewer's two transactions of one process hung until statement_timeout). Kept here so
  // that `close` waits for them too.
  const unqueued = new Set<Promise<unknown>>();
  const locksRow = (slice: SliceDefinition) => slice.persist && !deps.stores?.persistent && inTransaction();
  const update = async (user_id: string, name: string, fn: (current: never) => unknown): Promise<unknown> => {
    assertOpen();
    checkUser(user_id);
    const slice = sliceOf(name);
    const started = performance.now();
    if (locksRow(slice)) {
      const mine = runUpdate(user_id, slice, fn, started);
      unqueued.add(mine);
      const leave = () => unqueued.delete(mine);
      mine.then(leave, leave);
      return mine;
    }
    const key = `${user_id}\u0000${slice.name}`;
    const previous = turns.get(key);
    let mine: Promise<unknown>;
    if (previous) {
      // after the previous update of this slice, however it ended
      const run = () => runUpdate(user_id, slice, fn, started);
      mine = previous.then(run, run);
    } else mine = runUpdate(user_id, slice, fn, started);
    turns.set(key, mine);
    // the entry goes when this update ends last in its chain; the handler also keeps a
    // rejection from being reported as unhandled here (the caller gets it through `mine`)
    const leave = () => {
      if (turns.get(key) === mine) turns.delete(key);
    };
    mine.then(leave, leave);
    return mine;
  };
  const runUpdate = async (
    user_id: string,
    slice: ReturnType<typeof sliceOf>,
    fn: (current: never) => unknown,
    started: number,
  ): Promise<unknown> => {
    assertOpen(); // a turn that comes after close: nothing written
    // the deadline bounds the retrying, from this update's turn: a wait behind this manager's
    // earlier updates of the slice is not contention (each of those is bounded the same way)
    const turn = performance.now();
    const deadline = turn + settings.update_deadline_ms;
    const done = (outcome: Parameters<typeof metrics.update>[1]) =>
      metrics.update(slice.name, outcome, performance.now() - started);
    let backoff: (() => number) | undefined; // made on the first conflict only: the common path has none
    let verify = false;
    // the record that stood when a compare-and-set was lost, told by the home with its refusal
    let told: { stored: StoredSlice | undefined } | undefined;
    let lost = 0; // compare-and-sets lost to another writer (a wrong guess is not one)
    try {
      for (let attempt = 1; ; attempt++) {
        // after a lost compare-and-set the cache may be the stale party: read the home
        const read = told
          ? { stored: told.stored, home: true }
          : await readRecord(user_id, slice, attempt > 1 || verify, true);
        told = undefined;
        const record = read.stored;
        const current = decodeSlice(slice, record);
        const next = await fn(current as never);
        if (next === current && read.guess) {
          verify = true; // nothing to write would be decided on a guess: read the row, run fn again
          continue;
        }
        if (next === current) {
          if (read.home) await fill(user_id, slice, record);
          done('unchanged');
          return current;
        }
        const data = encodeSlice(slice, next);
        const write_id = newId();
        let stored: StoredSlice | SliceConflict | undefined;
        try {
          stored = await write(user_id, slice, record?.token, data, write_id);
        } catch (error) {
          stored = await settle(user_id, slice, record?.token, write_id, error);
        }
        // the cache gets the written record, not the read one: one put where there were two
        if (stored && !isConflict(stored)) {
          await fill(user_id, slice, stored);
          done('written');
          return data;
        }
        recent.delete(recentKey(user_id, slice));
        if (stored) told = { stored: stored.current };
        if (read.guess === 'none') continue; // there was a record after all
        metrics.conflict(slice.name);
        if (read.guess === 'transaction') continue; // the guess went stale, not a race lost: the told row, or a read, now
        backoff ??= createBackoff({
          base_ms: settings.backoff_base_ms,
          max_ms: settings.backoff_max_ms,
          jitter: 'full',
        });
        const delay = backoff();
        if (++lost >= settings.max_attempts || performance.now() + delay > deadline) {
          done('conflict');
          const ms = Math.round(performance.now() - turn);
          const waited_ms = Math.round(turn - started);
          throw new DianaError(
            USER_STATE_ERROR_CODES.STATE_CONFLICT,
            `slice '${slice.name}' kept changing under update (${lost} compare-and-sets lost in ${ms} ms)`,
            { context: { slice: slice.name, attempts: lost, elapsed_ms: ms, waited_ms } },
          );
        }
        await sleep(delay);
      }
    } catch (error) {
      if (!(error instanceof DianaError && error.code === USER_STATE_ERROR_CODES.STATE_CONFLICT))
        done(error instanceof DianaError && error.code === USER_STATE_ERROR_CODES.STATE_INVALID ? 'invalid' : 'failed');
      throw error;
    }
  };

  return {
    backends: { persistent: cache ? `${persistent.name}+redis-cache` : persistent.name, ephemeral: ephemeral.name },
    async get(user_id, name) {
      assertOpen();
      checkUser(user_id);
      const slice = sliceOf(name);
      const read = await readRecord(user_id, slice, false);
      if (read.home) await fill(user_id, slice, read.stored);
      return decodeSlice(slice, read.stored) as never;
    },
    update: update as UserStateManager<S>['update'],
    set: ((user_id: string, name: string, value: unknown) =>
      update(user_id, name, () => value)) as UserStateManager<S>['set'],
    reset: ((user_id: string, name: string) =>
      update(user_id, name, () => sliceOf(name).initial)) as UserStateManager<S>['reset'],
    async snapshot(user_id) {
      assertOpen();
      checkUser(user_id);
      const all = [...slices.values()];
      const read = async (home: SliceStore, group: SliceDefinition[]) => {
        if (group.length === 0) return new Map<string, StoredSlice>();
        try {
          return await home.readMany(
            user_id,
            group.map((s) => s.name),
          );
        } catch (error) {
          throw unavailable(group[0] as SliceDefinition, error);
        }
      };
      const [p, e] = await Promise.all([
        read(
          persistent,
          all.filter((s) => s.persist),
        ),
        read(
          ephemeral,
          all.filter((s) => !s.persist),
        ),
      ]);
      const result: Record<string, unknown> = {};
      for (const slice of all) result[slice.name] = decodeSlice(slice, (slice.persist ? p : e).get(slice.name));
      return result as never;
    },
    stats: () => ({ ...metrics.counts }),
    close: closer.close,
    [Symbol.asyncDispose]: closer[Symbol.asyncDispose],
  };
}
