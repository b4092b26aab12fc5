// @diana/db/embedded: PostgreSQL without a server, for a fresh machine (the bot's default
// when no database URL is set). PGlite runs PostgreSQL in WebAssembly; pglite-socket serves
// it on 127.0.0.1 so that the same postgres.js `Database` talks to it.
import { mkdirSync } from 'node:fs';
import { createCloser, getPackageLogger, type Logger } from '@diana/utils';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { DatabaseConfigInput } from './config.js';
import { lockDirectory } from './dir-lock.js';
import { createPostgres, type Database } from './postgres.js';

/** Options of `createEmbeddedPostgres`. */
export interface EmbeddedPostgresOptions {
  /** Data directory (created if missing); in memory when omitted. */
  readonly dir?: string;
  /** Pool settings other than url and pool size. */
  readonly database?: Omit<DatabaseConfigInput, 'url' | 'pool_max'>;
  readonly logger?: Logger;
}

/**
 * Starts PGlite behind a loopback socket and returns the usual `Database` on it.
 * PGlite has one session: the pool has one connection (queries queue), and LISTEN/NOTIFY
 * between connections does not work. `close()` stops the pool, the socket and PGlite.
 * A data directory is used by one process at a time: a second one gets `E_DB_LOCKED`
 * (the lock file `diana.lock` holds the pid; a dead owner's lock is taken over).
 */
export async function createEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<Database> {
  const logger = getPackageLogger(options.logger, 'db');
  if (options.dir) mkdirSync(options.dir, { recursive: true });
  const lock = options.dir ? lockDirectory(options.dir) : undefined;
  let pglite: PGlite;
  let server: PGLiteSocketServer;
  try {
    pglite = await PGlite.create(options.dir);
    server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: 0, maxConnections: 1 });
    await server.start();
  } catch (error) {
    lock?.release();
    throw error;
  }
  const address = server.getServerConn();
  const db = createPostgres({
    ...options.database,
    url: `postgres://postgres@${address}/postgres`,
    pool_max: 1,
  });
  logger.info({ dir: options.dir ?? 'memory', address }, 'embedded PostgreSQL (PGlite) started');

  const closer = createCloser(async () => {
    await db.close();
    await server.stop();
    await pglite.close();
    lock?.release();
  });
  return {
    ...db,
    listen_notify: false,
    close: (closeOptions) => {
      if (!closer.closed && closeOptions) return db.close(closeOptions).then(() => closer.close());
      return closer.close();
    },
    [Symbol.asyncDispose]: closer.close,
  };
}
