// @diana/db/mongo: the MongoDB client and the DocumentStore adapter on it. A separate entry so
// that apps without MongoDB never load the driver.
import {
  type Closeable,
  createCloser,
  DianaError,
  getPackageLogger,
  isDianaError,
  type Logger,
  parseOrThrow,
} from '@diana/utils';
import type { Db, MongoClient } from 'mongodb';
import type * as v from 'valibot';
import { MongoConfig } from './config.js';
import { DB_ERROR_CODES } from './errors.js';
import { importOptional } from './optional.js';

export { createMongoDocumentStore } from './adapters/mongo.js';

/** A connected MongoDB database handle (the official driver) with a pool and lifecycle. */
export interface Mongo extends Closeable {
  readonly client: MongoClient;
  readonly db: Db;
  /** `ping` within `timeout_ms` (default 2 000). */
  ping(options?: { timeout_ms?: number }): Promise<{ latency_ms: number }>;
}

/** What `createMongo` needs besides its config. */
export interface MongoDeps {
  readonly logger?: Logger;
  /**
   * Ends the wait for a server: the client is closed and `createMongo` rejects with
   * `E_DB_UNAVAILABLE` naming the last error a server gave (a refused connection, …). Without it
   * the wait lasts `server_selection_timeout_ms`.
   */
  readonly signal?: AbortSignal;
}

/** Connects the official driver with Diana's pool settings; `close()` ends the pool. */
export async function createMongo(config: v.InferInput<typeof MongoConfig>, deps: MongoDeps = {}): Promise<Mongo> {
  const settings = parseOrThrow(MongoConfig, config, {
    code: DB_ERROR_CODES.CONFIG,
    message: 'invalid MongoDB config',
  });
  const logger = getPackageLogger(deps.logger, 'db');
  const { MongoClient } = await importOptional('mongodb', 'createMongo', ['mongodb'], () => import('mongodb'));
  const client = new MongoClient(settings.url.reveal(), {
    maxPoolSize: settings.pool_max,
    minPoolSize: settings.pool_min,
    connectTimeoutMS: settings.connect_timeout_ms,
    serverSelectionTimeoutMS: settings.server_selection_timeout_ms,
    maxIdleTimeMS: settings.max_idle_time_ms,
    appName: settings.application_name,
  });
  await connectWithin(client, deps.signal);
  const db = client.db(settings.database);
  const closer = createCloser(async () => {
    await client.close();
    logger.debug('mongo closed');
  });
  return {
    client,
    db,
    async ping({ timeout_ms = 2_000 } = {}) {
      const started = performance.now();
      await db.command({ ping: 1 }, { timeoutMS: timeout_ms });
      return { latency_ms: performance.now() - started };
    },
    close: closer.close,
    [Symbol.asyncDispose]: closer.close,
  };
}

/**
 * `client.connect()`, which waits up to the server selection timeout even when every server
 * refused at once; a `signal` ends the wait sooner, closing the client (no pool is left behind
 * to connect later), with the last error a server's heartbeat gave as the reason.
 */
async function connectWithin(client: MongoClient, signal: AbortSignal | undefined): Promise<void> {
  let lastFailure: string | undefined;
  const onFailed = (event: { failure?: Error }) => {
    lastFailure = event.failure?.message ?? lastFailure;
  };
  const unreachable = (reason: string, cause?: unknown) =>
    new DianaError(DB_ERROR_CODES.UNAVAILABLE, `MongoDB is not reachable: ${reason}`, { cause });
  client.on('serverHeartbeatFailed', onFailed);
  let onAbort: (() => void) | undefined;
  try {
    const connecting = client.connect();
    if (!signal) {
      await connecting;
      return;
    }
    await new Promise<void>((resolve, reject) => {
      onAbort = () => {
        connecting.catch(() => {}); // closing the client ends it with an error of its own
        client.close().catch(() => {});
        reject(unreachable(lastFailure ?? 'no server answered before the wait ended'));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      connecting.then(() => resolve(), reject);
    });
  } catch (error) {
    throw isDianaError(error) ? error : unreachable((error as Error).message, error);
  } finally {
    client.off('serverHeartbeatFailed', onFailed);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
