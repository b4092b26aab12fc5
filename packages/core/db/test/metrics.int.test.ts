import { useTestDatabase } from '@diana/test-services';
import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgres } from '../src/postgres.js';

const testDb = await useTestDatabase('db-metrics');
const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
const provider = new MeterProvider({ readers: [reader] });
metrics.setGlobalMeterProvider(provider);
afterAll(() => provider.shutdown());

describe('db metrics', () => {
  it('records query durations, transactions and pool gauges on the OpenTelemetry meter', async () => {
    const db = createPostgres({ url: testDb.url, application_name: 'metrics-test', pool_max: 2 });
    await Promise.all([1, 2, 3, 4, 5].map((n) => db.sql`select ${n}::int`));
    await db.transaction(async (tx) => tx`select 1`);
    await db.sql`select no_such_column`.catch(() => {});

    const { resourceMetrics } = await reader.collect();
    const all = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
    const byName = new Map(all.map((metric) => [metric.descriptor.name, metric]));

    const duration = byName.get('diana.db.query.duration');
    const points = duration?.dataPoints ?? [];
    const ok = points.find((p) => p.attributes.outcome === 'ok' && p.attributes.pool === 'metrics-test');
    const failed = points.find((p) => p.attributes.outcome === 'error' && p.attributes.code === '42703');
    expect((ok?.value as { count: number } | undefined)?.count).toBeGreaterThanOrEqual(6);
    expect((failed?.value as { count: number } | undefined)?.count).toBe(1);
    const commits = byName.get('diana.db.transactions')?.dataPoints.find((p) => p.attributes.outcome === 'commit');
    expect(commits?.value).toBe(1);
    const open = byName.get('diana.db.pool.open')?.dataPoints.find((p) => p.attributes.pool === 'metrics-test');
    expect(open?.value).toBe(2);
    await db.close();
  });
});
