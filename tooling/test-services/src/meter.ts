import { metrics } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { afterAll } from 'vitest';

/** One data point as read back in a test. */
export interface MetricPoint {
  readonly value: unknown;
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** What one collection saw. */
export interface CollectedMetrics {
  /** Points of `name` whose attributes include every entry of `attributes`. */
  points(name: string, attributes?: Readonly<Record<string, unknown>>): MetricPoint[];
  /** Sum of counter and gauge values. */
  sum(name: string, attributes?: Readonly<Record<string, unknown>>): number;
  /** Sum of histogram counts. */
  count(name: string, attributes?: Readonly<Record<string, unknown>>): number;
  /** Sum of histogram sums (the recorded values added up). */
  total(name: string, attributes?: Readonly<Record<string, unknown>>): number;
  /** The instrument's unit and, for a histogram, its bucket boundaries (undefined if not seen). */
  descriptor(name: string): { unit: string; boundaries: readonly number[] | undefined } | undefined;
}

/**
 * Installs an OpenTelemetry SDK with an in-memory reader as the global meter provider (for
 * this test file's process) and shuts it down after the file. Call it before creating the
 * code under test, which takes its meter when it is created.
 */
export function useTestMeter(): { collect(): Promise<CollectedMetrics> } {
  const reader = new PeriodicExportingMetricReader({
    exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE),
    exportIntervalMillis: 60_000,
  });
  const provider = new MeterProvider({ readers: [reader] });
  metrics.setGlobalMeterProvider(provider);
  afterAll(() => provider.shutdown());
  return {
    async collect() {
      const { resourceMetrics } = await reader.collect();
      const all = resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
      const points = (name: string, attributes: Readonly<Record<string, unknown>> = {}) =>
        all
          .filter((metric) => metric.descriptor.name === name)
          .flatMap((metric) => metric.dataPoints as MetricPoint[])
          .filter((point) => Object.entries(attributes).every(([key, value]) => point.attributes[key] === value));
      return {
        points,
        sum: (name, attributes) => points(name, attributes).reduce((total, point) => total + Number(point.value), 0),
        count: (name, attributes) =>
          points(name, attributes).reduce(
            (total, point) => total + ((point.value as { count?: number }).count ?? 0),
            0,
          ),
        total: (name, attributes) =>
          points(name, attributes).reduce((total, point) => total + ((point.value as { sum?: number }).sum ?? 0), 0),
        descriptor(name) {
          const metric = all.find((m) => m.descriptor.name === name);
          if (!metric) return undefined;
          const first = metric.dataPoints[0]?.value as { buckets?: { boundaries: number[] } } | undefined;
          return { unit: metric.descriptor.unit, boundaries: first?.buckets?.boundaries };
        },
      };
    },
  };
}
