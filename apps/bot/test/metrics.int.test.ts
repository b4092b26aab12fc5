// What an operator's Prometheus scrapes: the bot as `pnpm start` runs it (a child process on
// PostgreSQL, Redis and a fake Bot API), some traffic with a 429 and a 403, then /metrics:
// the resource names the service, the runtime, event-bus and Telegram series are there, and
// every metric the Grafana dashboard queries is exported.
import { readFileSync } from 'node:fs';
import { createUpdateFactory, startFakeTelegram, useTestDatabase, useTestRedis } from '@diana/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, httpGet, killChildBots, redisKeyPrefixes, startBot, telegramBotEnv, until } from './child-bot.js';
import { dashboardMetricNames, exportedMetricNames } from './promql.js';

afterAll(killChildBots);

const DASHBOARD = new URL('../../../docs/grafana/diana.json', import.meta.url);
const updates = createUpdateFactory(5_000);
// the conventions' units of some series: seconds and bytes (on the # UNIT line; this exporter adds no suffix)
const UNITS = [
  ['diana_bot_handler_duration', 's'],
  ['diana_db_query_duration', 's'],
  ['diana_events_latency', 's'],
  ['diana_telegram_request_duration', 's'],
  ['diana_cache_l1_bytes', 'By'],
  ['v8js_memory_heap_used', 'By'],
] as const;

describe('/metrics of a running bot', () => {
  it('names the service, exports runtime, event-bus and Telegram series, and every metric the dashboard queries', async () => {
    const testDb = await useTestDatabase('bot-metrics');
    const redis = await useTestRedis('bot-metrics');
    const fake = await startFakeTelegram();
    const port = await freePort();
    const bot = startBot({
      ...telegramBotEnv(testDb.url, fake.url, 'metrics'),
      DIANA_BOT_HTTP_PORT: String(port),
      DIANA_REDIS_URL: redis.url,
      ...redisKeyPrefixes(redis.prefix),
      OTEL_SERVICE_NAME: 'diana-metrics-test',
    });
    try {
      // a user served; one refused once with 429 (auto-retry sends it again); one who blocked the bot (403)
      fake.queueUpdate(updates.message(81, '/start', 1));
      await fake.waitFor('sendMessage', 30_000);
      fake.tooManyRequestsOnce('sendMessage', 1);
      fake.queueUpdate(updates.message(82, '/start', 2));
      fake.blocked.add(83);
      fake.queueUpdate(updates.message(83, '/start', 3));
      expect(await until(() => fake.calls.some((c) => c.payload.chat_id === 83 && c.status === 403), 20_000)).toBe(
        true,
      );
      expect(await until(() => fake.calls.filter((c) => c.payload.chat_id === 82 && c.status === 200).length > 0)).toBe(
        true,
      );
      // A series is exported once it has a data point: the 403 counts during update 83's first
      // send, while the three handlers may still run (their durations are recorded as each ends,
      // the events they published are consumed later). So the scrape is repeated until the 403,
      // the three handlers' durations and every unit asserted below are there (under CI's load
      // one scrape came before any handler had ended). The GC's histogram is there once the
      // process has collected at least once (Node 22 under CI's load: not yet at one scrape).
      const queried = dashboardMetricNames(JSON.parse(readFileSync(DASHBOARD, 'utf8')));
      const handled = (metrics: string) =>
        [...metrics.matchAll(/^diana_bot_handler_duration_count(?:\{[^}]*\})? (\d+)$/gm)].reduce(
          (sum, m) => sum + Number(m[1]),
          0,
        );
      let text = '';
      expect(
        await until(async () => {
          text = (await httpGet(port, '/metrics')).text;
          const exported = new Set(exportedMetricNames(text));
          return (
            /diana_telegram_forbidden_total\{[^}]*\} [1-9]/.test(text) &&
            handled(text) >= 3 &&
            UNITS.every(([name, unit]) => text.includes(`# UNIT ${name} ${unit}\n`)) &&
            queried.every((name) => exported.has(name))
          );
        }, 20_000),
      ).toBe(true);

      // the resource: service.name from OTEL_SERVICE_NAME, service.version from package.json
      expect(text).toMatch(/target_info\{[^}]*service_name="diana-metrics-test"/);
      expect(text).toMatch(/target_info\{[^}]*service_version="\d+\.\d+\.\d+/);
      // Telegram: sends, the 429 and the 403 as Telegram answered them
      expect(text).toMatch(/diana_telegram_sends_total\{[^}]*method="sendMessage"[^}]*\} [1-9]/);
      expect(text).toMatch(/diana_telegram_rate_limited_total\{[^}]*method="sendMessage"[^}]*\} 1\b/);
      expect(text).toMatch(/diana_telegram_forbidden_total\{[^}]*method="sendMessage"[^}]*\} 1\b/);
      // the conventions' units
      for (const [name, unit] of UNITS) expect(text).toContain(`# UNIT ${name} ${unit}\n`);
      expect(text).toMatch(/diana_bot_handler_duration_bucket\{[^}]*le="10"[^}]*\} [1-9]/);
      // runtime (semantic-convention names) and the operators' gauges
      for (const name of [
        'nodejs_eventloop_delay_p99',
        'v8js_memory_heap_used',
        'diana_events_consumer_lag',
        'diana_events_consumer_pending',
        'diana_events_dead_letters',
        'diana_events_outbox_backlog',
        'diana_cache_l1_bytes',
      ])
        expect(exportedMetricNames(text)).toContain(name);

      expect(queried.length).toBeGreaterThan(20);
      const exported = new Set(exportedMetricNames(text));
      expect(queried.filter((name) => !exported.has(name))).toEqual([]);
    } finally {
      bot.child.kill('SIGTERM');
      expect(await bot.exited).toBe(0);
      await fake.close();
    }
  }, 90_000);
});
