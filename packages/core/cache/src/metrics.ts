import { type Attributes, metrics } from '@opentelemetry/api';

/** What the cache counts, by name. */
export type CacheCounter =
  | 'l1_hits'
  | 'l2_hits'
  | 'misses'
  | 'stale_served'
  | 'factory_calls'
  | 'factory_errors'
  | 'schema_misses'
  | 'lease_timeouts';

/** Counters kept in memory for `stats()` and recorded on the OpenTelemetry meter `@diana/cache`. */
export interface CacheMetrics {
  readonly counts: Readonly<Record<CacheCounter, number>>;
  count(name: CacheCounter): void;
  /** Reports the breaker state, whether invalidations are heard, and the in-process tier's size on each collection. */
  observe(read: () => { breaker_open: boolean; listening: boolean; l1_entries: number; l1_bytes: number }): () => void;
}

/** Instruments on the global meter (a no-op until the app installs an SDK). */
export function createCacheMetrics(): CacheMetrics {
  const meter = metrics.getMeter('@diana/cache');
  const counts: Record<CacheCounter, number> = {
    l1_hits: 0,
    l2_hits: 0,
    misses: 0,
    stale_served: 0,
    factory_calls: 0,
    factory_errors: 0,
    schema_misses: 0,
    lease_timeouts: 0,
  };
  const hits = meter.createCounter('diana.cache.hits', { description: 'Reads answered from a tier' });
  const others = {
    misses: meter.createCounter('diana.cache.misses', { description: 'Reads neither tier could answer fresh' }),
    stale_served: meter.createCounter('diana.cache.stale_served', {
      description: 'Expired values served within grace',
    }),
    factory_calls: meter.createCounter('diana.cache.factory.calls', { description: 'Factory runs' }),
    factory_errors: meter.createCounter('diana.cache.factory.errors', { description: 'Factory runs that failed' }),
    schema_misses: meter.createCounter('diana.cache.schema_misses', {
      description: 'Stored values that failed their schema',
    }),
    lease_timeouts: meter.createCounter('diana.cache.lease_timeouts', {
      description: "Waits for another process's refresh that ran out",
    }),
  };
  const tierL1: Attributes = { tier: 'l1' };
  const tierL2: Attributes = { tier: 'l2' };
  // every series exists from the start at 0 (a counter otherwise appears with its first event,
  // and a dashboard's rate() or hit ratio has nothing to read until then)
  hits.add(0, tierL1);
  hits.add(0, tierL2);
  for (const counter of Object.values(others)) counter.add(0);
  return {
    counts,
    count(name) {
      counts[name]++;
      if (name === 'l1_hits') hits.add(1, tierL1);
      else if (name === 'l2_hits') hits.add(1, tierL2);
      else others[name].add(1);
    },
    observe(read) {
      const breaker = meter.createObservableGauge('diana.cache.breaker_open', {
        description: '1 while Redis is bypassed',
      });
      const listening = meter.createObservableGauge('diana.cache.listening', {
        description: '1 while this process hears invalidations (else it keeps no memory copies)',
      });
      const entries = meter.createObservableGauge('diana.cache.l1.entries', { description: 'In-process entries' });
      const bytes = meter.createObservableGauge('diana.cache.l1.bytes', {
        description: 'In-process serialized bytes',
        unit: 'By',
      });
      const callback = (result: { observe(gauge: typeof breaker, value: number): void }) => {
        const now = read();
        result.observe(breaker, now.breaker_open ? 1 : 0);
        result.observe(listening, now.listening ? 1 : 0);
        result.observe(entries, now.l1_entries);
        result.observe(bytes, now.l1_bytes);
      };
      meter.addBatchObservableCallback(callback, [breaker, listening, entries, bytes]);
      return () => meter.removeBatchObservableCallback(callback, [breaker, listening, entries, bytes]);
    },
  };
}
