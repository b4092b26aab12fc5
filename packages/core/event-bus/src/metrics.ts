import { DURATION_BUCKETS_SECONDS } from '@diana/utils';
import { type Attributes, type BatchObservableCallback, metrics } from '@opentelemetry/api';
import type { GroupStats } from './types.js';

/** The instruments the bus records into (OpenTelemetry meter `@diana/event-bus`). */
export interface BusMetrics {
  published(type: string): void;
  acked(type: string, group: string, latencyMs: number): void;
  retried(type: string, group: string): void;
  deadLettered(type: string, group: string): void;
  handlerDuration(type: string, group: string, ms: number): void;
  /** Rows removed past their retention, by table (`outbox`, `inbox`). */
  pruned(table: 'outbox' | 'inbox', rows: number): void;
}

/** Instruments on the global meter (a no-op until the app installs an SDK). */
export function createBusMetrics(): BusMetrics {
  const meter = metrics.getMeter('@diana/event-bus');
  const published = meter.createCounter('diana.events.published', { description: 'Events appended to their stream' });
  const acked = meter.createCounter('diana.events.acked', { description: 'Events handled and acknowledged' });
  const retried = meter.createCounter('diana.events.retried', {
    description: 'Handler attempts that failed and will be retried',
  });
  const dead = meter.createCounter('diana.events.dead_lettered', {
    description: 'Events moved to the dead-letter stream',
  });
  const latency = meter.createHistogram('diana.events.latency', {
    unit: 's',
    description: 'From publish (occurred_at) to acknowledgement',
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  const duration = meter.createHistogram('diana.events.handler.duration', {
    unit: 's',
    description: 'Handler run time',
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  const pruned = meter.createCounter('diana.events.pruned', {
    description: 'Published outbox rows and inbox records removed past their retention',
    unit: '{row}',
  });
  const tables = { outbox: { table: 'outbox' }, inbox: { table: 'inbox' } } as const;
  // Attribute objects are cached by type, then group: they are asked for on every event's path,
  // and a lookup builds no key string.
  const cache = new Map<string, Map<string | undefined, Attributes>>();
  const attrs = (type: string, group?: string): Attributes => {
    let byGroup = cache.get(type);
    if (!byGroup) {
      byGroup = new Map();
      cache.set(type, byGroup);
    }
    let value = byGroup.get(group);
    if (!value) {
      value = group === undefined ? { type } : { type, group };
      byGroup.set(group, value);
    }
    return value;
  };
  return {
    published: (type) => published.add(1, attrs(type)),
    acked: (type, group, ms) => {
      acked.add(1, attrs(type, group));
      latency.record(ms / 1_000, attrs(type, group));
    },
    retried: (type, group) => retried.add(1, attrs(type, group)),
    deadLettered: (type, group) => dead.add(1, attrs(type, group)),
    handlerDuration: (type, group, ms) => duration.record(ms / 1_000, attrs(type, group)),
    // each round adds, 0 included: the series is there from the first round, not from the first
    // row removed (with the defaults, a day after start)
    pruned: (table, rows) => pruned.add(rows, tables[table]),
  };
}

/** What one collection of the stream gauges reads from the transport. */
export interface StreamFigures {
  readonly groups: readonly GroupStats[];
  readonly dead_letters: ReadonlyArray<{ readonly type: string; readonly count: number }>;
}

/** How long a collection waits for the transport or the database before it skips the gauges. */
export const GAUGE_READ_TIMEOUT_MS = 2_000;

/**
 * Gauges read at each collection: `diana.events.consumer.lag`, `.pending`,
 * `.oldest_pending_age` per (type, group) and `diana.events.dead_letters` per type. A read
 * that fails or takes longer than `GAUGE_READ_TIMEOUT_MS` (Redis down) skips them: a scrape
 * never fails because of it. Returns the unregistration.
 */
export function observeStreams(read: () => Promise<StreamFigures>): () => void {
  const meter = metrics.getMeter('@diana/event-bus');
  const lag = meter.createObservableGauge('diana.events.consumer.lag', {
    description: 'Entries of the stream not yet delivered to the group',
    unit: '{event}',
  });
  const pending = meter.createObservableGauge('diana.events.consumer.pending', {
    description: 'Entries delivered to the group and not yet acknowledged',
    unit: '{event}',
  });
  const oldest = meter.createObservableGauge('diana.events.consumer.oldest_pending_age', {
    description: 'Age of the oldest unacknowledged entry of the group (0 when none)',
    unit: 's',
  });
  const dead = meter.createObservableGauge('diana.events.dead_letters', {
    description: 'Entries in the dead-letter stream of the type, waiting for replay or purge',
    unit: '{event}',
  });
  const callback: BatchObservableCallback = async (result) => {
    const figures = await withinTimeout(read());
    if (!figures) return;
    for (const g of figures.groups) {
      const attributes = { type: g.type, group: g.group };
      result.observe(lag, g.lag, attributes);
      result.observe(pending, g.pending, attributes);
      result.observe(oldest, g.oldest_pending_ms / 1_000, attributes);
    }
    for (const d of figures.dead_letters) result.observe(dead, d.count, { type: d.type });
  };
  const instruments = [lag, pending, oldest, dead];
  meter.addBatchObservableCallback(callback, instruments);
  return () => meter.removeBatchObservableCallback(callback, instruments);
}

/**
 * `diana.events.outbox.backlog` (rows committed, not yet relayed) and
 * `diana.events.outbox.oldest_age`; skipped when the database does not answer in time.
 */
export function observeOutbox(read: () => Promise<{ backlog: number; oldest_s: number }>): () => void {
  const meter = metrics.getMeter('@diana/event-bus');
  const backlog = meter.createObservableGauge('diana.events.outbox.backlog', {
    description: 'Outbox rows committed and not yet appended to their stream',
    unit: '{event}',
  });
  const oldest = meter.createObservableGauge('diana.events.outbox.oldest_age', {
    description: 'Age of the oldest outbox row not yet relayed (0 when none)',
    unit: 's',
  });
  const callback: BatchObservableCallback = async (result) => {
    const figures = await withinTimeout(read());
    if (!figures) return;
    result.observe(backlog, figures.backlog);
    result.observe(oldest, figures.oldest_s);
  };
  meter.addBatchObservableCallback(callback, [backlog, oldest]);
  return () => meter.removeBatchObservableCallback(callback, [backlog, oldest]);
}

/** The value, or undefined when it failed or took longer than `GAUGE_READ_TIMEOUT_MS`. */
function withinTimeout<T>(work: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), GAUGE_READ_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([work.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
}
