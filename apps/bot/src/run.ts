// The bot (main.ts loads it): settings → HTTP (health from the first second) → app (each backend waited for until
// the start deadline) → transport (console chat without a token, webhook with a webhook URL, long
// polling otherwise); SIGTERM/SIGINT close everything in reverse order. A start that cannot
// complete exits 1 with one line saying why: never a half-started process.

import { mkdirSync, openSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createLogger, isDianaError, revealSecret } from '@diana/utils';
import type { RunnerHandle } from '@grammyjs/runner';
import { pino } from 'pino';
import { createApp } from './app.js';
import { loadAppSettings } from './config.js';
import { CONSOLE_BOT, createConsole, runConsole } from './console.js';
import { logFileProblem } from './data-dir.js';
import { removeEarlyExit } from './early-exit.js';
import { type HttpServer, startHttp } from './http.js';
import { installMetrics } from './metrics.js';
import { startPolling } from './polling.js';
import { createStartGate } from './start-gate.js';

let settings: ReturnType<typeof loadAppSettings>;
try {
  settings = loadAppSettings();
} catch (error) {
  // no log file yet (its path is a setting): the one line goes to stderr, with its code
  console.error(isDianaError(error) ? `diana-bot: start failed (${error.code}): ${error.message}` : error);
  process.exit(1);
}
const mode = !settings.bot.telegram_bot_token ? 'console' : settings.bot.webhook_url ? 'webhook' : 'polling';
// in the console chat the terminal is the conversation: logs go to a file unless log_file is '-' (stderr)
const logFile =
  mode === 'console' && settings.bot.log_file !== '-'
    ? (settings.bot.log_file ?? join(settings.bot.data_dir, 'bot.log'))
    : settings.bot.log_file !== '-'
      ? settings.bot.log_file
      : undefined;
// opened here, before any line: a buffered destination on an open file is flushed by pino when
// the process exits, so a start that fails at once still leaves its fatal line (a write stream
// still opening its file lost it). A folder that cannot hold it stops the start with one line
// (before, a raw stack: EEXIST for a data_dir that is a file, EROFS or EACCES for a read-only one)
let logFd: number | undefined;
if (logFile)
  try {
    mkdirSync(dirname(logFile), { recursive: true, mode: 0o700 });
    logFd = openSync(logFile, 'a', 0o600);
  } catch (error) {
    const variable = settings.bot.log_file ? 'DIANA_BOT_LOG_FILE' : 'DIANA_BOT_DATA_DIR';
    console.error(
      `${mode === 'console' ? 'No se pudo arrancar: ' : 'diana-bot: '}start failed: ${logFileProblem(logFile, variable, error)}`,
    );
    process.exit(1);
  }
const logger = createLogger({
  level: settings.bot.log_level,
  name: 'diana-bot',
  ...(logFd !== undefined
    ? { destination: pino.destination({ dest: logFd, sync: false }) }
    : mode === 'console'
      ? { destination: process.stderr }
      : {}),
});
// the whole path: `pnpm start` runs the bot in apps/bot, not where it was typed
if (mode === 'console' && logFile) process.stdout.write(`(los registros van a ${resolve(logFile)})\n`);
const metrics = installMetrics({ service_name: settings.bot.service_name });
const terminal = mode === 'console' ? createConsole(process.stdout) : undefined;
/** How long the console chat, its input ended, waits for the events its session caused. */
const CONSOLE_SETTLE_MS = 10_000;
const gate = createStartGate({
  start_timeout_ms: settings.bot.start_timeout_ms,
  logger,
  // the console user would otherwise face a silent prompt until the backend answers
  ...(mode === 'console'
    ? {
        onWait: (dependency: string, reason: string) =>
          process.stdout.write(`(esperando a ${dependency}: ${reason}…)\n`),
      }
    : {}),
});
const target: { app: Awaited<ReturnType<typeof createApp>> | undefined; readonly starting: string } = {
  app: undefined,
  get starting() {
    return gate.waiting ? `waiting for ${gate.waiting}` : 'starting';
  },
};

/** Start could not complete: one line on stderr (and the log), exit 1. */
const failStart = async (line: string, error: unknown): Promise<never> => {
  logger.fatal({ err: error, dependency: isDianaError(error) ? error.context?.dependency : undefined }, line);
  console.error(mode === 'console' ? `No se pudo arrancar: ${line}` : `diana-bot: ${line}`);
  await http?.close({ timeout_ms: 1_000 });
  await metrics.close();
  process.exit(1);
};

const NO_TOKEN_NO_INPUT =
  'no TELEGRAM_BOT_TOKEN, so the console chat opened, and its input ended before a line (no terminal): set TELEGRAM_BOT_TOKEN to run the bot on Telegram';

// registered before start: a SIGTERM while start waits for a backend stops it cleanly too
let stopping: Promise<void> | undefined;
let polling: RunnerHandle | undefined;
const shutdown = (signal: string, code = 0) => {
  stopping ??= (async () => {
    logger.info({ signal }, 'shutting down');
    const deadline = setTimeout(() => {
      logger.error({ timeout_ms: settings.bot.shutdown_timeout_ms }, 'shutdown deadline passed; exiting');
      process.exit(1);
    }, settings.bot.shutdown_timeout_ms);
    deadline.unref();
    const app = target.app;
    if (polling?.isRunning()) await polling.stop();
    await http?.close({ timeout_ms: settings.bot.shutdown_timeout_ms / 2 });
    await app?.close();
    await metrics.close();
    // the console's last line: after what the app still said while closing (a handler finishing
    // during the bus's drain may send a notice, such as the welcome bonus)
    if (mode === 'console') process.stdout.write('\n¡Hasta pronto!\n');
    clearTimeout(deadline);
    process.exit(code);
  })();
  return stopping;
};
removeEarlyExit();
process.on('SIGTERM', () => void shutdown('SIGTERM'));
process.on('SIGINT', () => void shutdown('SIGINT'));

let http: HttpServer | undefined;
try {
  http = await startHttp(target, {
    port: settings.bot.http_port,
    host: settings.bot.http_host,
    webhook_max_body_bytes: settings.bot.webhook_max_body_bytes,
    ...(settings.bot.ops_port !== undefined
      ? { ops: { port: settings.bot.ops_port, host: settings.bot.ops_host } }
      : {}),
    metrics,
    logger,
    ...(mode === 'webhook' && settings.bot.webhook_secret
      ? { webhook_secret: revealSecret(settings.bot.webhook_secret) }
      : {}),
  });
} catch (error) {
  // webhook mode cannot receive updates without its server; elsewhere only health and metrics are lost
  if (mode === 'webhook')
    await failStart(
      `start failed: the webhook needs HTTP port ${settings.bot.http_port}, which cannot be used (${(error as Error).message})`,
      error,
    );
  logger.error(
    { err: error, port: settings.bot.http_port },
    'HTTP server not started (health, metrics and webhook unavailable)',
  );
}

let app: Awaited<ReturnType<typeof createApp>>;
try {
  app = await createApp(settings, {
    logger,
    gate,
    ...(terminal ? { botInfo: CONSOLE_BOT, apiTransformer: terminal.transformer } : {}),
  });
} catch (error) {
  app = await failStart(`start failed: ${(error as Error).message}`, error);
}
if (stopping) await stopping; // a signal arrived while start was waiting
if (mode !== 'webhook') target.app = app;
logger.info(
  { mode, backends: app.backends },
  `diana bot started (${mode}): ${Object.entries(app.backends)
    .map(([k, v]) => `${k}=${v}`)
    .join(', ')}`,
);

if (mode === 'console' && terminal) {
  const { lines } = await runConsole({
    input: process.stdin,
    output: process.stdout,
    handleUpdate: (u) => app.handleUpdate(u),
    button: terminal.button,
    viewAs: terminal.viewAs,
  });
  // what the session's events still send (the welcome gift) is shown before the chat ends; what
  // does not settle in time stays in the outbox and the streams for the next start. A signal's
  // shutdown (Ctrl-C ends a piped input too) is closing what the wait reads: it gives way to it.
  const settled = stopping !== undefined || (await app.settle({ timeout_ms: CONSOLE_SETTLE_MS }).catch(() => false));
  if (!settled && stopping === undefined)
    logger.info(
      { timeout_ms: CONSOLE_SETTLE_MS },
      'end of input: events still being handled are left for the next start',
    );
  // no token, no terminal and nothing read: a container or a service started without
  // TELEGRAM_BOT_TOKEN (compose passes it empty), not someone at a console — said on stderr
  // (the console logs to a file), exit 1
  const unattended = lines === 0 && !process.stdin.isTTY && stopping === undefined;
  if (unattended) {
    logger.error(NO_TOKEN_NO_INPUT);
    console.error(`diana-bot: ${NO_TOKEN_NO_INPUT}`);
  }
  await shutdown('end of input', unattended ? 1 : 0);
} else if (mode === 'webhook') {
  if (settings.bot.set_webhook)
    await gate
      .waitFor('telegram setWebhook', (signal) =>
        app.bot.api.setWebhook(
          settings.bot.webhook_url as string,
          {
            max_connections: settings.bot.webhook_max_connections,
            ...(settings.bot.webhook_secret ? { secret_token: revealSecret(settings.bot.webhook_secret) } : {}),
          },
          signal as Parameters<typeof app.bot.api.setWebhook>[2],
        ),
      )
      .catch(async (error: unknown) => {
        await app.close({ timeout_ms: 1_000 });
        await failStart(`start failed: ${(error as Error).message}`, error);
      });
  target.app = app;
} else {
  // the runner handles chats concurrently (the chat queue keeps each chat in order); bot.start() would not
  await app.bot.api.deleteWebhook();
  const watched = startPolling(app.bot, {
    logger,
    onStopped: (error) => {
      logger.fatal({ err: error }, error.message);
      console.error(`diana-bot: ${error.message} (${error.code})`);
      void shutdown('long polling stopped', 1);
    },
  });
  polling = watched.handle;
  app.watch(watched.loop);
  logger.info({ username: app.bot.botInfo.username }, 'long polling');
}
