// @diana/db/embedded: PostgreSQL without a server, for a fresh machine (the bot's default
// when no database URL is set). PGlite runs PostgreSQL in WebAssembly; pglite-socket serves
// it on 127.0.0.1 so that the same postgres.js `Database` talks to it.
import { createCloser, DianaError, getPackageLogger, type Logger } from '@diana/utils';
import type { PGlite } from '@electric-sql/pglite';
import type { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { DatabaseConfigInput } from './config.js';
import { lockDirectory } from './dir-lock.js';
import { DB_ERROR_CODES } from './errors.js';
import { importOptional } from './optional.js';
import { ensureOwnerOnlyDirectory, restrictToOwner } from './owner-only.js';
import { createPostgres, type Database } from './postgres.js';

export { ensureOwnerOnlyDirectory, restrictToOwner } from './owner-only.js';

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
 * The directory is owner-only: 0700, and every file and directory in it loses its group and
 * other permissions at open, after PGlite's initdb and at close (existing ones too).
 */
export async function createEmbeddedPostgres(options: EmbeddedPostgresOptions = {}): Promise<Database> {
  const logger = getPackageLogger(options.logger, 'db');
  const install = ['@electric-sql/pglite', '@electric-sql/pglite-socket'];
  const { PGlite } = await importOptional(
    '@electric-sql/pglite',
    'createEmbeddedPostgres',
    install,
    () => import('@electric-sql/pglite'),
  );
  const { PGLiteSocketServer } = await importOptional(
    '@electric-sql/pglite-socket',
    'createEmbeddedPostgres',
    install,
    () => import('@electric-sql/pglite-socket'),
  );
  const dir = options.dir;
  // owner-only before anything is written into it (see owner-only.ts)
  if (dir) ensureOwnerOnlyDirectory(dir);
  const lock = dir ? lockDirectory(dir) : undefined;
  let pglite: PGlite | undefined;
  let server: PGLiteSocketServer;
  try {
    pglite = await PGlite.create(dir);
    // initdb's files, which PGlite made 0666
    if (dir) restrictToOwner(dir);
    server = new PGLiteSocketServer({ db: pglite, host: '127.0.0.1', port: 0, maxConnections: 1 });
    await server.start();
  } catch (error) {
    await pglite?.close().catch(() => {});
    lock?.release();
    throw error;
  }
  const started = pglite;
  const address = server.getServerConn();
  const db = createPostgres({
    ...options.database,
    url: `postgres://postgres@${address}/postgres`,
    pool_max: 1,
  });
  logger.info({ dir: dir ?? 'memory', address }, 'embedded PostgreSQL (PGlite) started');

  const closer = createCloser(async () => {
    await db.close();
    await server.stop();
    await started.close();
    // Files PGlite created while running (tables, WAL segments). PGlite 0.5.14 makes those
    // 0600 already; only its initdb files come 0666. This walk keeps that true at rest if a
    // later version does otherwise.
    try {
      if (dir) restrictToOwner(dir);
    } finally {
      lock?.release();
    }
  });
  const embedded: Database = {
    ...db,
    listen_notify: false,
    listen: async () => {
      throw new DianaError(
        DB_ERROR_CODES.LISTEN_UNAVAILABLE,
        'LISTEN does not work on embedded PostgreSQL (one session): poll instead',
      );
    },
    direct: () => embedded,
    close: (closeOptions) => {
      if (!closer.closed && closeOptions) return db.close(closeOptions).then(() => closer.close());
      return closer.close();
    },
    [Symbol.asyncDispose]: closer.close,
  };
  return embedded;
}
