import { DURATION_BUCKETS_SECONDS } from '@diana/utils';
import { type Attributes, type Meter, metrics, type ObservableResult } from '@opentelemetry/api';

/** Pool occupancy at one instant. */
export interface PoolStats {
  /** Connections open to the server. */
  readonly open: number;
  /** Queries running on a connection, plus transactions holding one (at most `open`). */
  readonly busy: number;
  /** Queries waiting for a free connection. */
  readonly waiting: number;
  /** Pool size. */
  readonly max: number;
}

/** The instruments one pool records into. */
export interface DbMetrics {
  recordQuery(durationMs: number, outcome: 'ok' | 'error', code?: string): void;
  recordTransaction(outcome: 'commit' | 'rollback'): void;
  recordRetry(): void;
  /** Stops reporting pool gauges (on close). */
  dispose(): void;
}

/** Instruments of `@diana/db` on the global OpenTelemetry meter (a no-op until an SDK is installed). */
export function createDbMetrics(pool: string, getStats: () => PoolStats, meter?: Meter): DbMetrics {
  const m = meter ?? metrics.getMeter('@diana/db');
  const base: Attributes = { pool };
  const duration = m.createHistogram('diana.db.query.duration', {
    unit: 's',
    description: 'Time from sending a query to its result',
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  const transactions = m.createCounter('diana.db.transactions', { description: 'Transactions by outcome' });
  const retries = m.createCounter('diana.db.retries', {
    description: 'Statements retried after the server ended their session',
  });
  const gauges = {
    open: m.createObservableGauge('diana.db.pool.open', { description: 'Open connections' }),
    busy: m.createObservableGauge('diana.db.pool.busy', { description: 'Connections running a query or transaction' }),
    waiting: m.createObservableGauge('diana.db.pool.waiting', { description: 'Queries waiting for a connection' }),
  };
  const observe = (key: 'open' | 'busy' | 'waiting') => (result: ObservableResult) => {
    result.observe(getStats()[key], base);
  };
  const callbacks = {
    open: observe('open'),
    busy: observe('busy'),
    waiting: observe('waiting'),
  };
  for (const key of ['open', 'busy', 'waiting'] as const) gauges[key].addCallback(callbacks[key]);

  // Attribute objects of the common cases are built once (this is on every query's path).
  const okAttributes: Attributes = { ...base, outcome: 'ok' };
  const errorAttributes: Attributes = { ...base, outcome: 'error' };
  return {
    recordQuery: (ms, outcome, code) =>
      duration.record(
        ms / 1_000,
        outcome === 'ok' ? okAttributes : code ? { ...errorAttributes, code } : errorAttributes,
      ),
    recordTransaction: (outcome) => transactions.add(1, { ...base, outcome }),
    recordRetry: () => retries.add(1, base),
    dispose: () => {
      for (const key of ['open', 'busy', 'waiting'] as const) gauges[key].removeCallback(callbacks[key]);
    },
  };
}
