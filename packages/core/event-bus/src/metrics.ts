import { DURATION_BUCKETS_SECONDS } from '@diana/utils';
import { type Attributes, metrics } from '@opentelemetry/api';

/** The instruments the bus records into (OpenTelemetry meter `@diana/event-bus`). */
export interface BusMetrics {
  published(type: string): void;
  acked(type: string, group: string, latencyMs: number): void;
  retried(type: string, group: string): void;
  deadLettered(type: string, group: string): void;
  handlerDuration(type: string, group: string, ms: number): void;
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
  // Attribute objects are cached: they are built on every event's path.
  const cache = new Map<string, Attributes>();
  const attrs = (type: string, group?: string): Attributes => {
    const key = `${type}\u0000${group ?? ''}`;
    let value = cache.get(key);
    if (!value) {
      value = group === undefined ? { type } : { type, group };
      cache.set(key, value);
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
  };
}
