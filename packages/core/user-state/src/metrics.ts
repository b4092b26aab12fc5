import { DURATION_BUCKETS_SECONDS } from '@diana/utils';
import { metrics } from '@opentelemetry/api';

/** How an `update` ended. */
export type UpdateOutcome = 'written' | 'unchanged' | 'conflict' | 'invalid' | 'failed';

/** Counters kept in memory for `stats()` and recorded on the OpenTelemetry meter `@diana/user-state`. */
export interface UserStateMetrics {
  readonly counts: {
    updates: number;
    /** Compare-and-sets lost to another writer (each one retried or, at the limit, failed). */
    conflicts: number;
    cache_hits: number;
    cache_misses: number;
    /** Redis cache commands that failed (the read went to PostgreSQL instead). */
    cache_errors: number;
    /** `user.state_changed` events that could not be published after an ephemeral write. */
    notify_errors: number;
  };
  update(slice: string, outcome: UpdateOutcome, duration_ms: number): void;
  conflict(slice: string): void;
  cache(result: 'hit' | 'miss' | 'error'): void;
  /** Exports the cache counter at 0 for each result, so a dashboard's hit ratio reads from the first scrape. */
  cacheFromZero(): void;
  notifyError(slice: string): void;
}

/** Instruments on the global meter (a no-op until the app installs an SDK). */
export function createUserStateMetrics(): UserStateMetrics {
  const meter = metrics.getMeter('@diana/user-state');
  const updates = meter.createCounter('diana.user_state.updates', { description: 'update/set/reset calls by outcome' });
  const duration = meter.createHistogram('diana.user_state.update.duration', {
    description: 'Time of an update, retries included',
    unit: 's',
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  const conflicts = meter.createCounter('diana.user_state.conflicts', {
    description: 'Compare-and-sets lost to a concurrent writer',
  });
  const cache = meter.createCounter('diana.user_state.cache', {
    description: 'Reads of persistent slices from the Redis cache, by result',
  });
  const notifyErrors = meter.createCounter('diana.user_state.notify_errors', {
    description: 'user.state_changed events not published after an ephemeral write',
  });
  const counts = { updates: 0, conflicts: 0, cache_hits: 0, cache_misses: 0, cache_errors: 0, notify_errors: 0 };
  return {
    counts,
    update(slice, outcome, duration_ms) {
      counts.updates++;
      updates.add(1, { slice, outcome });
      duration.record(duration_ms / 1_000, { slice, outcome });
    },
    conflict(slice) {
      counts.conflicts++;
      conflicts.add(1, { slice });
    },
    cache(result) {
      counts[result === 'hit' ? 'cache_hits' : result === 'miss' ? 'cache_misses' : 'cache_errors']++;
      cache.add(1, { result });
    },
    cacheFromZero() {
      for (const result of ['hit', 'miss', 'error']) cache.add(0, { result });
    },
    notifyError(slice) {
      counts.notify_errors++;
      notifyErrors.add(1, { slice });
    },
  };
}
