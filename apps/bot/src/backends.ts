// Layer 1 of the composition root: PostgreSQL (embedded PGlite without a URL) with every
// package's migrations, the document store (MongoDB or PostgreSQL) and the one Redis connector.
import { join, resolve } from 'node:path';
import {
  createPostgres,
  createPostgresDocumentStore,
  type Database,
  DB_ERROR_CODES,
  type DocumentStore,
  migrate,
} from '@diana/db';
import { createRedisConnector, REDIS_ERROR_CODES, type RedisConnector } from '@diana/redis';
import { DianaError, isDianaError, type Logger } from '@diana/utils';
import { ALL_MIGRATIONS, type AppSettings } from './catalog.js';
import { checkPostgresSettings } from './postgres-settings.js';
import type { Ping } from './readiness.js';
import { redisConnection } from './redis-connection.js';
import type { StartGate } from './start-gate.js';
import type { Startup } from './startup.js';

/** The storage every later layer stands on. */
export interface Backends {
  readonly db: Database;
  readonly documents: DocumentStore;
  /** Absent without `redis.url`: every part then runs in memory. */
  readonly connector: RedisConnector | undefined;
  /** No `database.url`: PGlite under `bot.data_dir`. */
  readonly embedded: boolean;
  /** Each backend's ping, for /readyz. */
  readonly pings: ReadonlyMap<string, Ping>;
}

/** Opens (and waits for) each backend as a start step, migrations applied. */
export async function startBackends(
  settings: AppSettings,
  { startup, gate, logger }: { startup: Startup; gate: StartGate; logger: Logger },
): Promise<Backends> {
  const { step, onClose } = startup;
  const dataDir = settings.bot.data_dir;
  const embedded = settings.database.url === undefined;
  const pings = new Map<string, Ping>();

  const db = await step('postgres', async () => {
    const url = settings.database.url;
    if (url !== undefined) {
      // a statement or transaction that finds PostgreSQL down (a restart, PgBouncer restarting)
      // waits for it as long as an update may (bot.outage_wait_ms): module handlers and consumers
      // of users already cached included, not only the update's first read
      const connect_wait_ms = Math.max(settings.database.connect_wait_ms, settings.bot.outage_wait_ms);
      const pool = createPostgres({ ...settings.database, url, connect_wait_ms }, { logger });
      onClose('postgres', () => pool.close());
      await gate.waitFor(
        'postgres',
        () =>
          pool.ping({ timeout_ms: 5_000 }).catch((error: unknown) => {
            throw explainPostgresRefusal(error);
          }),
        { final: isPostgresRefusal },
      );
      return pool;
    }
    const { createEmbeddedPostgres, ensureOwnerOnlyDirectory } = await import('@diana/db/embedded');
    // data_dir holds the database, secrets.json and bot.log: owner-only, old files included
    ensureOwnerOnlyDirectory(dataDir);
    const dir = join(dataDir, 'pg');
    const pglite = await createEmbeddedPostgres({ dir, logger }).catch((error: unknown) => {
      // the package's own refusals (the directory in use, PGlite not installed) say what to do;
      // PGlite's own ("failed to initialize properly") named neither the directory nor a fix
      if (isDianaError(error)) throw error;
      throw new Error(
        `the embedded database in ${resolve(dir)} cannot be opened (${(error as Error)?.message ?? error}): if it is not this bot's database (or is damaged), move that directory aside and start again (a new, empty one is made), or restore it from a backup`,
        { cause: error },
      );
    });
    onClose('postgres', () => pglite.close());
    return pglite;
  });
  pings.set('postgres', (timeout_ms) => db.ping({ timeout_ms }));
  // what the server's settings risk (the embedded database is the bot's own: nothing to tune)
  if (!embedded) await checkPostgresSettings(db, logger);
  await step('migrations', () =>
    migrate(db, ALL_MIGRATIONS, {
      logger,
      statement_timeout_ms: settings.database.migration_statement_timeout_ms,
      lock_timeout_ms: settings.database.migration_lock_timeout_ms,
    }),
  );
  const documents = await step('documents', async () => {
    const url = settings.mongo.url;
    if (!url) return createPostgresDocumentStore(db);
    const { createMongo, createMongoDocumentStore } = await import('@diana/db/mongo');
    const mongo = await gate.waitFor('mongodb', (signal) =>
      createMongo({ ...settings.mongo, url }, { logger, signal }),
    );
    onClose('mongodb', () => mongo.close());
    pings.set('mongodb', (timeout_ms) => mongo.ping({ timeout_ms }));
    return createMongoDocumentStore(mongo.db);
  });

  // one connector (the one fail-fast setup of @diana/redis) hands every adapter its clients
  const redisOptions = redisConnection(settings.redis);
  const connector = redisOptions ? createRedisConnector({ ...redisOptions, logger }) : undefined;
  if (connector) {
    // closed last (closes run in reverse): every adapter closes its own clients first
    onClose('redis', () => connector.close({ timeout_ms: 1_000 }));
    pings.set('redis', (timeout_ms) => connector.ping({ timeout_ms }));
    // a ping fails at the first connection error, so a Redis that is down is reported at once; a
    // slow one (a cluster's slots fetched on a busy machine) gets the gate's whole attempt
    await step('redis', () =>
      gate.waitFor('redis', () => connector.ping({ timeout_ms: 5_000 }), { final: isRedisRefusal }),
    );
  }
  return { db, documents, connector, embedded, pings };
}

// PgBouncer's refusal of the timeouts a direct connection sends at connect: a transaction pooler
// the settings do not name. Only the bot's settings can change it, so start ends at once, naming
// them (it waited the whole deadline, then said "did not answer"). A missing database or a
// refused password is still waited for: an init job may be creating them meanwhile.
const UNSUPPORTED_PARAMETER = /unsupported startup parameter/;

/** PgBouncer refused the startup parameters: no wait can change it. */
export const isPostgresRefusal = (error: unknown) =>
  isDianaError(error, DB_ERROR_CODES.UNAVAILABLE) && UNSUPPORTED_PARAMETER.test(error.message);

/** A pooler's refusal of the startup parameters, with the setting that fixes it; others as they are. */
export function explainPostgresRefusal(error: unknown): unknown {
  if (!isDianaError(error) || !UNSUPPORTED_PARAMETER.test(error.message)) return error;
  return new DianaError(
    error.code,
    `${error.message} (a transaction pooler such as PgBouncer: set DIANA_DATABASE_POOLER=transaction, or add ?pgbouncer=true to the URL)`,
    { cause: error, ...(error.context ? { context: error.context } : {}) },
  );
}

/** The server refused the URL's database, or the connector was closed (the bot is stopping): no wait can help. */
export const isRedisRefusal = (error: unknown) =>
  isDianaError(error, REDIS_ERROR_CODES.DATABASE_REFUSED) || isDianaError(error, REDIS_ERROR_CODES.CLOSED);
