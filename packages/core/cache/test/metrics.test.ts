import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterAll, expect, it } from 'vitest';
import { createCache } from '../src/cache.js';

const reader = new PeriodicExportingMetricReader({
  exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
  exportIntervalMillis: 60_000,
});
const provider = new MeterProvider({ readers: [reader] });
metrics.setGlobalMeterProvider(provider);
afterAll(() => provider.shutdown());

it('records hits by tier, misses, factory calls and the in-process size on the OpenTelemetry meter', async () => {
  const cache = createCache();
  await cache.getOrSet('a', () => 1);
  await cache.getOrSet('a', () => 1);
  await cache.getOrSet('a', () => 1);
  const { resourceMetrics } = await reader.collect();
  const all = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
  const value = (name: string, attributes: Record<string, string> = {}) =>
    (
      all.find((m) => m.descriptor.name === name)?.dataPoints as
        | Array<{ value: unknown; attributes: Record<string, unknown> }>
        | undefined
    )
      ?.filter((p) => Object.entries(attributes).every(([k, v]) => p.attributes[k] === v))
      .reduce((sum, p) => sum + Number(p.value), 0);
  expect(value('diana.cache.hits', { tier: 'l1' })).toBe(2);
  expect(value('diana.cache.misses')).toBe(1);
  expect(value('diana.cache.factory.calls')).toBe(1);
  expect(value('diana.cache.l1.entries')).toBe(1);
  expect(value('diana.cache.breaker_open')).toBe(0);
  expect(cache.stats()).toMatchObject({ l1_hits: 2, misses: 1, factory_calls: 1 });
  await cache.close();
});
