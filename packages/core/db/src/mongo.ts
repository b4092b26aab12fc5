// @diana/db/mongo: the MongoDB client and the DocumentStore adapter on it. A separate entry so
// that apps without MongoDB never load the driver.
import { type Closeable, createCloser, DianaError, getPackageLogger, type Logger, parseOrThrow } from '@diana/utils';
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

/** Connects the official driver with Diana's pool settings; `close()` ends the pool. */
export async function createMongo(
  config: v.InferInput<typeof MongoConfig>,
  deps: { logger?: Logger } = {},
): Promise<Mongo> {
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
  try {
    await client.connect();
  } catch (error) {
    throw new DianaError(DB_ERROR_CODES.UNAVAILABLE, `MongoDB is not reachable: ${(error as Error).message}`, {
      cause: error,
    });
  }
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
