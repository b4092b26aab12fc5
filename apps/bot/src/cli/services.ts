// The parts a CLI command needs, opened the way the bot opens them (same settings, same
// embedded defaults) and closed when the command ends. A dependency that does not answer is
// one DianaError naming it, never a hang or a retry loop.
import { once } from 'node:events';
import { join } from 'node:path';
import { type ConfigManager, createConfigManager } from '@diana/config';
import { createPostgres, type Database, DB_ERROR_CODES } from '@diana/db';
import {
  createEventBus,
  createMemoryTransport,
  EVENT_BUS_ERROR_CODES,
  type EventBusService,
  type StreamTransport,
} from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector, type RedisClient, type RedisConnector } from '@diana/redis';
import { DianaError, isDianaError, type Logger, libpqSocketUrl, revealSecret } from '@diana/utils';
import { ALL_EVENTS, type AppSettings, CONFIG_TEMPLATES } from '../catalog.js';
import { BOT_ERROR_CODES } from '../errors.js';
import { redisConnection } from '../redis-connection.js';
import type { Ask } from './args.js';

/** How long a dependency gets to answer before the command fails. */
const CONNECT_TIMEOUT_MS = 5_000;

/** What a command runs with. */
export interface CliContext {
  readonly settings: AppSettings;
  readonly logger: Logger;
  /** Who answers a destructive command's `[y/N]` (tests answer here). @default the terminal on stdin */
  readonly ask?: Ask;
}

/** Runs `work` on the bot's database (PostgreSQL at DIANA_DATABASE_URL, else the embedded one in data_dir). */
export async function withDatabase<T>(ctx: CliContext, work: (db: Database) => Promise<T>): Promise<T> {
  const db = await openDatabase(ctx);
  try {
    return await work(db);
  } finally {
    await db.close();
  }
}

async function openDatabase({ settings, logger }: CliContext): Promise<Database> {
  if (!settings.database.url) {
    const { createEmbeddedPostgres } = await import('@diana/db/embedded');
    return createEmbeddedPostgres({ dir: join(settings.bot.data_dir, 'pg'), logger });
  }
  const db = createPostgres({ ...settings.database, url: settings.database.url as never }, { logger });
  try {
    await db.ping({ timeout_ms: CONNECT_TIMEOUT_MS });
  } catch (error) {
    // at once: the close's default wait for running queries would wait on the ping that got no answer
    await db.close({ timeout_ms: 0 }).catch(() => {});
    const code = isDianaError(error) ? error.code : DB_ERROR_CODES.UNAVAILABLE;
    // the server's own refusal (a database that does not exist, a wrong password) is an answer
    let answered = false;
    for (let at: unknown = error; at instanceof Error && !answered; at = at.cause)
      answered = at.name === 'PostgresError';
    throw new DianaError(
      code,
      `PostgreSQL at ${where(revealSecret(settings.database.url))} ${answered ? 'refused the connection' : 'did not answer'}: ${reason(error)}`,
      { cause: error },
    );
  }
  return db;
}

/** A connector to the bot's Redis checked with one PING, or undefined when none is configured. */
export async function openRedis({ settings }: CliContext): Promise<RedisConnector | undefined> {
  const options = redisConnection(settings.redis);
  if (!options) return undefined;
  const connector = createRedisConnector(options);
  try {
    // one fail-fast client: a refused first connection is the answer (the bot's start gate retries
    // until its deadline; a command has no reason to wait), a silent Redis fails at the deadline
    const probe = connector.command({ name: 'cli-probe', command_timeout_ms: CONNECT_TIMEOUT_MS });
    await firstConnection(probe, CONNECT_TIMEOUT_MS);
    await probe.ping();
  } catch (error) {
    await connector.close({ timeout_ms: 0 });
    throw new DianaError(
      BOT_ERROR_CODES.REDIS_UNAVAILABLE,
      `Redis at ${options.url && !options.cluster ? where(options.url) : connector.where} did not answer: ${reason(error)}`,
      {
        cause: error,
      },
    );
  }
  return connector;
}

/** Resolves once `client` is ready; rejects with its first connection error, or after `timeout_ms`. */
async function firstConnection(client: RedisClient, timeout_ms: number): Promise<void> {
  if (client.status === 'ready') return;
  try {
    // events.once rejects on the client's first 'error' event (ECONNREFUSED, ENOTFOUND, NOAUTH…)
    await once(client, 'ready', { signal: AbortSignal.timeout(timeout_ms) });
  } catch (error) {
    if ((error as Error)?.name !== 'AbortError') throw error;
    throw new Error(`no connection within ${timeout_ms} ms (status ${client.status})`, { cause: error });
  }
}

/** Runs `work` on an event bus over the bot's Redis streams (the dead letters live there). */
export async function withBus<T>(
  ctx: CliContext,
  work: (bus: EventBusService<typeof ALL_EVENTS>, transport: StreamTransport) => Promise<T>,
): Promise<T> {
  const connector = await openRedis(ctx);
  if (!connector)
    throw new DianaError(
      BOT_ERROR_CODES.CLI_NO_REDIS,
      'no Redis configured (DIANA_REDIS_URL or DIANA_REDIS_CLUSTER_NODES): the embedded bus keeps its streams in the bot process only',
    );
  const transport = createRedisStreamsTransport(
    // the same partitions as the bot, or dead letters of partitions past 0 would not be seen
    { prefix: ctx.settings.event_bus.stream_prefix, partitions: ctx.settings.event_bus.partitions },
    { connector, logger: ctx.logger },
  );
  const bus = createEventBus(ctx.settings.event_bus, { transport, events: ALL_EVENTS, logger: ctx.logger });
  try {
    return await work(bus, transport);
  } finally {
    await bus.close();
    await transport.close();
    await connector.close();
  }
}

/**
 * Runs `work` on a ConfigManager over the bot's database. Its changes reach the bot through the
 * outbox (the bot's relay publishes them), so an in-memory bus is enough here.
 */
export async function withConfig<T>(
  ctx: CliContext,
  work: (config: ConfigManager<typeof CONFIG_TEMPLATES>, db: Database) => Promise<T>,
): Promise<T> {
  return withDatabase(ctx, async (db) => {
    const transport = createMemoryTransport();
    // with db: config.changed joins each write's transaction and goes to the outbox
    const bus = createEventBus(ctx.settings.event_bus, { transport, events: ALL_EVENTS, db, logger: ctx.logger });
    const config = createConfigManager(ctx.settings.config, {
      db,
      bus,
      templates: CONFIG_TEMPLATES,
      logger: ctx.logger,
    });
    try {
      await config.start();
      return await work(config, db);
    } finally {
      await config.close();
      await bus.close();
      await transport.close();
    }
  });
}

/** Throws E_BUS_EVENT_UNKNOWN unless the bot's bus knows `type`. */
export function checkEventType(type: string): keyof typeof ALL_EVENTS {
  if (!Object.hasOwn(ALL_EVENTS, type))
    throw new DianaError(
      EVENT_BUS_ERROR_CODES.EVENT_UNKNOWN,
      `unknown event type '${type}' (the bot knows ${Object.keys(ALL_EVENTS).length} types)`,
    );
  return type as keyof typeof ALL_EVENTS;
}

/** host:port of a URL (or its socket's path), never its credentials. */
function where(url: string): string {
  try {
    const parsed = new URL(libpqSocketUrl(url));
    const socketDir = parsed.searchParams.get('host');
    if (socketDir?.startsWith('/')) return socketDir;
    return parsed.host || parsed.pathname;
  } catch {
    return 'the configured URL';
  }
}

function reason(error: unknown): string {
  return ((error as Error)?.message ?? String(error)).split('\n')[0] ?? 'unknown error';
}
