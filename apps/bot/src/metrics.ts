// The app installs the OpenTelemetry SDK: every package's meter (a no-op until now) reports to
// a Prometheus exporter that the HTTP server serves on /metrics, with the process's runtime
// metrics (event-loop delay, heap, GC) from @opentelemetry/instrumentation-runtime-node.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DURATION_BUCKETS_SECONDS } from '@diana/utils';
import { type BatchObservableCallback, metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import pkg from '../package.json' with { type: 'json' };

/** The SDK the app installed: /metrics and its shutdown. */
export interface AppMetrics {
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): Promise<void>;
}

/** Options of `installMetrics`. */
export interface MetricsOptions {
  /** The resource's `service.name` (`target_info{service_name=…}`): the `bot.service_name` setting. @default 'diana-bot' */
  readonly service_name?: string;
}

/** Installs the global meter provider (Prometheus reader, resource, runtime metrics). */
export function installMetrics(options: MetricsOptions = {}): AppMetrics {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({
    readers: [exporter],
    resource: resourceFromAttributes({
      'service.name': options.service_name ?? 'diana-bot',
      'service.version': pkg.version,
    }),
  });
  metrics.setGlobalMeterProvider(provider);
  // off until it has our provider: its collectors would otherwise bind to whatever is global
  const runtime = new RuntimeNodeInstrumentation({ enabled: false });
  runtime.setMeterProvider(provider);
  runtime.enable();
  return {
    handle: (req, res) => exporter.getMetricsRequestHandler(req, res),
    async close() {
      // stops the event-loop histogram and the GC observer, which would keep sampling
      runtime.disable();
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

/** The `outcome` of `diana.bot.updates`: docs/metrics.md and the README list each (test/metrics-docs.test.ts). */
export const UPDATE_OUTCOMES = ['ok', 'error', 'blocked', 'duplicate', 'dropped', 'in_progress'] as const;

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
    record(kind: string, outcome: (typeof UPDATE_OUTCOMES)[number], ms: number) {
      updates.add(1, { kind, outcome });
      // handled (well or not); a duplicate or a dropped update never ran
      if (outcome !== 'duplicate' && outcome !== 'dropped' && outcome !== 'in_progress')
        latency.record(ms / 1_000, { kind });
    },
  };
}

/** Messages out: every method that puts a message in a chat (not `sendChatAction`). */
const SENDS = /^(send(?!ChatAction)|copyMessage|forwardMessage)/;

/** Bot API calls as they reach Telegram (meter `@diana/bot`): requests, sends, 429s, 403s, duration. */
export function createTelegramMetrics() {
  const meter = metrics.getMeter('@diana/bot');
  const requests = meter.createCounter('diana.telegram.requests', {
    description: 'Bot API calls sent to Telegram (each retry counts), by method and outcome (ok or error)',
  });
  const sends = meter.createCounter('diana.telegram.sends', {
    description: 'Messages Telegram accepted (send*, copyMessage, forwardMessage), by method',
  });
  const rateLimited = meter.createCounter('diana.telegram.rate_limited', {
    description: 'Calls Telegram answered 429 Too Many Requests (auto-retry waits and retries them)',
  });
  const forbidden = meter.createCounter('diana.telegram.forbidden', {
    description: 'Calls Telegram answered 403 Forbidden (the user blocked the bot, or the bot left the chat)',
  });
  const duration = meter.createHistogram('diana.telegram.request.duration', {
    description: 'Time of one Bot API call, from sending it to its answer',
    unit: 's',
    advice: { explicitBucketBoundaries: [...DURATION_BUCKETS_SECONDS] },
  });
  return {
    /** One answered call (`error_code` undefined when ok), or one that failed without an answer (`error_code` 0). */
    record(method: string, seconds: number, error_code: number | undefined) {
      requests.add(1, { method, outcome: error_code === undefined ? 'ok' : 'error' });
      duration.record(seconds, { method });
      if (error_code === undefined && SENDS.test(method)) sends.add(1, { method });
      else if (error_code === 429) rateLimited.add(1, { method });
      else if (error_code === 403) forbidden.add(1, { method });
    },
  };
}
