import { coerceDuration, coerceInt, secretUrl } from '@diana/utils';
import * as v from 'valibot';

/** Default PostgreSQL pool size per process. */
export const DEFAULT_POOL_MAX = 10;
/** Default server-side statement timeout. */
export const DEFAULT_STATEMENT_TIMEOUT_MS = 30_000;

/** What stands between the pool and PostgreSQL: nothing, or a pooler that hands out a server per transaction. */
export const POOLERS = ['none', 'transaction'] as const;
/** A value of `POOLERS`. */
export type Pooler = (typeof POOLERS)[number];

// libpq's socket forms are read too: `?host=/directory` (with a host that is not used, or none),
// credentials before an empty host (`postgres://app:pw@/diana?host=/cloudsql/x`), and the
// directory %2F-encoded as the host (see `libpqSocketUrl`). A URL that is none of these nor a
// TCP URL is refused, and the issue shows the first form.
const POSTGRES_URL = {
  protocols: ['postgres', 'postgresql'],
  expected:
    'a URL (postgres://, postgresql://); through a Unix socket, with the directory in ?host= and a host name ' +
    'that is not used: postgres://app:pw@localhost/diana?host=/var/run/postgresql',
};

/** PostgreSQL settings (`DIANA_DATABASE_*`). */
export const DatabaseConfig = v.object({
  /** `postgres://user:pass@host:5432/db`; shown with its password masked. */
  url: secretUrl(POSTGRES_URL),
  /** Connections in the pool. */
  pool_max: v.optional(coerceInt({ min: 1, max: 1000 }), DEFAULT_POOL_MAX),
  /** Close a connection idle this long. */
  idle_timeout_ms: v.optional(coerceDuration(), 30_000),
  /** Give up opening a connection after this long. */
  connect_timeout_ms: v.optional(coerceDuration({ min: 1 }), 10_000),
  /**
   * How long a statement or a transaction that finds no connection to open (the server down,
   * restarting, starting up) keeps trying, 100 ms doubling to 1 s apart, before it fails; nothing
   * was sent, so trying again is safe. 0 (the default): it fails at once. `db.ping` never waits.
   */
  connect_wait_ms: v.optional(coerceDuration(), 0),
  /** Replace a connection after this long (spreads load after failovers). */
  max_lifetime_ms: v.optional(coerceDuration({ min: 1_000 }), 30 * 60_000),
  /** Server-side `statement_timeout` of every connection; 0 disables it. */
  statement_timeout_ms: v.optional(coerceDuration(), DEFAULT_STATEMENT_TIMEOUT_MS),
  /** `statement_timeout` of each migration file (not the pool's); 0 disables it. */
  migration_statement_timeout_ms: v.optional(coerceDuration(), 600_000),
  /** How long a migration run waits for another runner's lock (and any table lock) before `E_DB_MIGRATION_LOCKED`. */
  migration_lock_timeout_ms: v.optional(coerceDuration({ min: 1 }), 60_000),
  /** Server-side `idle_in_transaction_session_timeout`; 0 disables it. */
  idle_in_transaction_timeout_ms: v.optional(coerceDuration(), 60_000),
  /** Shown in `pg_stat_activity`. */
  application_name: v.optional(v.pipe(v.string(), v.maxLength(63)), 'diana'),
  /**
   * `transaction` when `url` goes through a transaction pooler (PgBouncer `pool_mode =
   * transaction`): no prepared statements, no session settings; also on when the URL carries
   * `?pgbouncer=true`.
   */
  pooler: v.optional(v.picklist(POOLERS), 'none'),
  /** The same database without the pooler, for what needs a session: migrations and LISTEN. */
  direct_url: v.optional(secretUrl(POSTGRES_URL)),
});
/** Parsed `DatabaseConfig`. */
export type DatabaseConfig = v.InferOutput<typeof DatabaseConfig>;
/** What callers may pass to `createPostgres` (defaults filled in). */
export type DatabaseConfigInput = v.InferInput<typeof DatabaseConfig>;

/** MongoDB settings (`DIANA_MONGO_*`, or `MONGODB_URL`). */
export const MongoConfig = v.object({
  url: secretUrl({ protocols: ['mongodb', 'mongodb+srv'] }),
  /** Database name; the URL's path when omitted. */
  database: v.optional(v.string()),
  pool_max: v.optional(coerceInt({ min: 1, max: 1000 }), DEFAULT_POOL_MAX),
  pool_min: v.optional(coerceInt({ min: 0, max: 1000 }), 0),
  connect_timeout_ms: v.optional(coerceDuration({ min: 1 }), 10_000),
  server_selection_timeout_ms: v.optional(coerceDuration({ min: 1 }), 10_000),
  max_idle_time_ms: v.optional(coerceDuration(), 60_000),
  application_name: v.optional(v.string(), 'diana'),
});
/** Parsed `MongoConfig`. */
export type MongoConfig = v.InferOutput<typeof MongoConfig>;
