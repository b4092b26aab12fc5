// The user-state manager's contract: what it needs, the slice name and value types, its figures
// and its methods.
import type { Database } from '@diana/db';
import type { EventBusService, EventRegistry } from '@diana/event-bus';
import type { Clock, Closeable, CloseOptions, Logger } from '@diana/utils';
import type { RedisStateStore } from './adapters/redis.js';
import type { USER_STATE_EVENTS } from './events.js';
import type { SliceDefinition, SliceValue } from './slice.js';
import type { SliceStore } from './types.js';

/** What `createUserStateManager` needs besides its config. */
export interface UserStateDeps<S extends readonly SliceDefinition[]> {
  readonly slices: S;
  /** Home of persistent slices (`user_state`); required when a slice persists, unless `stores.persistent`. */
  readonly db?: Database;
  /**
   * Home of ephemeral slices and cache of persistent ones (`createRedisStateStore` from
   * `@diana/user-state/adapters/redis`); without it, ephemeral slices live in memory. It serves
   * this manager alone and is closed with it.
   */
  readonly store?: RedisStateStore;
  /** Needed when a slice has `notify`; its registry must hold `USER_STATE_EVENTS`. */
  readonly bus?: EventBusService<EventRegistry & typeof USER_STATE_EVENTS>;
  /** Other homes (tests, custom backends); they replace the ones built from `db` and `store`. */
  readonly stores?: { readonly persistent?: SliceStore; readonly ephemeral?: SliceStore };
  readonly logger?: Logger;
  readonly clock?: Clock;
}

/** Names of the slices of `S`. */
export type SliceName<S extends readonly SliceDefinition[]> = S[number]['name'];
/** The value type of slice `N` of `S`. */
export type ValueOf<S extends readonly SliceDefinition[], N extends SliceName<S>> = SliceValue<
  Extract<S[number], { readonly name: N }>
>;

/** Figures since start. */
export interface UserStateStats {
  readonly updates: number;
  readonly conflicts: number;
  readonly cache_hits: number;
  readonly cache_misses: number;
  readonly cache_errors: number;
  readonly notify_errors: number;
}

/** Per-user state as named slices, each with one home; every `update` is atomic across processes. */
export interface UserStateManager<S extends readonly SliceDefinition[] = readonly SliceDefinition[]> extends Closeable {
  /** The stored value (migrated to the current version), or the slice's initial value. Deep-frozen. */
  get<N extends SliceName<S>>(user_id: string, slice: N): Promise<ValueOf<S, N>>;
  /**
   * Reads, calls `fn` with a frozen copy, validates what it returns and compare-and-sets it;
   * when another writer got there first, reads again and calls `fn` again (with backoff, up
   * to `max_attempts`). No lock is held while `fn` runs. `fn` returning its argument writes
   * nothing. `fn` throwing writes nothing and rethrows. Returns the value written.
   */
  update<N extends SliceName<S>>(
    user_id: string,
    slice: N,
    fn: (current: ValueOf<S, N>) => ValueOf<S, N> | Promise<ValueOf<S, N>>,
  ): Promise<ValueOf<S, N>>;
  /** Writes `value` whatever was there (still validated, still a compare-and-set). */
  set<N extends SliceName<S>>(user_id: string, slice: N, value: ValueOf<S, N>): Promise<ValueOf<S, N>>;
  /** Writes the slice's initial value. */
  reset<N extends SliceName<S>>(user_id: string, slice: N): Promise<ValueOf<S, N>>;
  /** Every slice of the user (two round trips at most: one per home). */
  snapshot(user_id: string): Promise<{ [N in SliceName<S>]: ValueOf<S, N> }>;
  /** Which store is the home of each kind of slice (for the app's start-up line). */
  readonly backends: { readonly persistent: string; readonly ephemeral: string };
  stats(): UserStateStats;
  /** Closes the manager and its Redis store (never the database or the connector). Idempotent. */
  close(options?: CloseOptions): Promise<void>;
}
