// pnpm start: settings → app → transport (console chat without a token, webhook with a
// webhook URL, long polling otherwise) → HTTP; SIGTERM/SIGINT close everything in reverse order.
import { loadSettings } from '@diana/config';
import { createLogger, isDianaError, revealSecret } from '@diana/utils';
import { createApp } from './app.js';
import { SETTINGS_SCHEMAS } from './config.js';
import { CONSOLE_BOT, createConsole, runConsole } from './console.js';
import { type HttpServer, startHttp } from './http.js';
import { installMetrics } from './metrics.js';

let settings: ReturnType<typeof loadSettings<typeof SETTINGS_SCHEMAS>>;
try {
  settings = loadSettings(SETTINGS_SCHEMAS);
} catch (error) {
  console.error(isDianaError(error) ? error.message : error);
  process.exit(1);
}
const mode = !settings.bot.telegram_bot_token ? 'console' : settings.bot.webhook_url ? 'webhook' : 'polling';
// in the console chat, stdout is the conversation: logs go to stderr, warnings and worse only
const logger = createLogger({
  level: mode === 'console' && settings.bot.log_level === 'info' ? 'warn' : settings.bot.log_level,
  name: 'diana-bot',
  ...(mode === 'console' ? { destination: process.stderr } : {}),
});
const metrics = installMetrics();
const terminal = mode === 'console' ? createConsole(process.stdout) : undefined;

let app: Awaited<ReturnType<typeof createApp>>;
try {
  app = await createApp(settings, {
    logger,
    ...(terminal ? { botInfo: CONSOLE_BOT, apiTransformer: terminal.transformer } : {}),
  });
} catch (error) {
  logger.fatal({ err: error, dependency: isDianaError(error) ? error.context?.dependency : undefined }, 'start failed');
  if (mode === 'console') console.error(`No se pudo arrancar: ${(error as Error).message}`);
  await metrics.close();
  process.exit(1);
}
logger.warn(
  { mode, backends: app.backends },
  `diana bot started (${mode}): ${Object.entries(app.backends)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}`,
);

let http: HttpServer | undefined;
try {
  http = await startHttp(app, {
    port: settings.bot.http_port,
    metrics,
    ...(mode === 'webhook' && settings.bot.webhook_secret
      ? { webhook_secret: revealSecret(settings.bot.webhook_secret) }
      : {}),
  });
} catch (error) {
  logger.error(
    { err: error, port: settings.bot.http_port },
    'HTTP server not started (health, metrics and webhook unavailable)',
  );
}

let stopping: Promise<void> | undefined;
const shutdown = (signal: string) => {
  stopping ??= (async () => {
    logger.warn({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error({ timeout_ms: settings.bot.shutdown_timeout_ms }, 'shutdown deadline passed; exiting');
      process.exit(1);
    }, settings.bot.shutdown_timeout_ms);
    deadline.unref();
    if (mode === 'polling') await app.bot.stop();
    await http?.close(settings.bot.shutdown_timeout_ms / 2);
    await app.close();
    await metrics.close();
    clearTimeout(deadline);
    process.exit(0);
  })();
  return stopping;
};
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

if (mode === 'console' && terminal) {
  await runConsole({
    input: process.stdin,
    output: process.stdout,
    handleUpdate: (u) => app.handleUpdate(u),
    button: terminal.button,
  });
  await shutdown('end of input');
} else if (mode === 'webhook') {
  if (settings.bot.set_webhook)
    await app.bot.api.setWebhook(settings.bot.webhook_url as string, {
      ...(settings.bot.webhook_secret ? { secret_token: revealSecret(settings.bot.webhook_secret) } : {}),
    });
} else {
  void app.bot.start({ onStart: (me) => logger.warn({ username: me.username }, 'long polling') });
}
