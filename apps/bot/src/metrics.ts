// The app installs the OpenTelemetry SDK: every package's meter (a no-op until now) reports to
// a Prometheus exporter that the HTTP server serves on /metrics.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DURATION_BUCKETS_SECONDS } from '@diana/utils';
import { type BatchObservableCallback, metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';

export interface AppMetrics {
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): Promise<void>;
}

export function installMetrics(): AppMetrics {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ readers: [exporter] });
  metrics.setGlobalMeterProvider(provider);
  return {
    handle: (req, res) => exporter.getMetricsRequestHandler(req, res),
    async close() {
      await provider.shutdown();
      metrics.disable();
    },
  };
}

/**
 * `diana.loop.running` (0/1) and `diana.loop.consecutive_failures` for each long-running loop;
 * returns the unregistration (the app's close calls it, so a closed app reports nothing).
 */
export function registerLoopGauges(
  read: () => ReadonlyArray<{ loop: string; running: boolean; consecutive_failures: number }>,
): () => void {
  const meter = metrics.getMeter('@diana/bot');
  const running = meter.createObservableGauge('diana.loop.running', {
    description: 'Whether a long-running loop (consumer, broadcast reader, relay, jobs) runs: 1 or 0',
  });
  const failures = meter.createObservableGauge('diana.loop.consecutive_failures', {
    description: 'Passes or reads of a long-running loop that failed in a row (0 when healthy)',
  });
  const observe: BatchObservableCallback = (result) => {
    for (const loop of read()) {
      result.observe(running, loop.running ? 1 : 0, { loop: loop.loop });
      result.observe(failures, loop.consecutive_failures, { loop: loop.loop });
    }
  };
  meter.addBatchObservableCallback(observe, [running, failures]);
  return () => meter.removeBatchObservableCallback(observe, [running, failures]);
}

/** Update counts and handler latency (meter `@diana/bot`). */
export function createBotMetrics() {
  const meter = metrics.getMeter('@diana/bot');
  const updates = meter.createCounter('diana.bot.updates', { description: 'Updates handled, by kind and outcome' });
  const latency = meter.createHistogram('diana.bot.handler.duration', {
    description: 'Time to handle one update',
    unit: 's',
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  return {
    record(kind: string, outcome: 'ok' | 'error' | 'duplicate' | 'dropped', ms: number) {
      updates.add(1, { kind, outcome });
      if (outcome === 'ok' || outcome === 'error') latency.record(ms / 1_000, { kind });
    },
  };
}
