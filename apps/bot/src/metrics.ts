// The app installs the OpenTelemetry SDK: every package's meter (a no-op until now) reports to
// a Prometheus exporter that the HTTP server serves on /metrics.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { metrics } from '@opentelemetry/api';
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

/** Update counts and handler latency (meter `@diana/bot`). */
export function createBotMetrics() {
  const meter = metrics.getMeter('@diana/bot');
  const updates = meter.createCounter('diana.bot.updates', { description: 'Updates handled, by kind and outcome' });
  const latency = meter.createHistogram('diana.bot.handler.duration', {
    description: 'Time to handle one update',
    unit: 'ms',
  });
  return {
    record(kind: string, outcome: 'ok' | 'error' | 'duplicate' | 'dropped', ms: number) {
      updates.add(1, { kind, outcome });
      if (outcome === 'ok' || outcome === 'error') latency.record(ms, { kind });
    },
  };
}
