import postgres from '@diana/postgres';
import { DianaError } from '@diana/utils';

/** Codes of the errors this package raises. */
export const DB_ERROR_CODES = Object.freeze({
  /** A statement, lock or idle transaction ran past its server-side timeout. */
  TIMEOUT: 'E_DB_TIMEOUT',
  /** The server could not be reached or the connection was lost. */
  UNAVAILABLE: 'E_DB_UNAVAILABLE',
  /** A unique, foreign-key, check or not-null constraint refused the write. */
  CONSTRAINT: 'E_DB_CONSTRAINT',
  /** Serialization failure or deadlock: the transaction may be retried. */
  CONFLICT: 'E_DB_CONFLICT',
  /** Any other error the server returned. */
  QUERY: 'E_DB_QUERY',
  /** The pool was closed. */
  CLOSED: 'E_DB_CLOSED',
  /** An optimistic write found another version (document store). */
  VERSION_CONFLICT: 'E_DB_VERSION_CONFLICT',
  /** An applied migration file was edited. */
  MIGRATION_CHECKSUM: 'E_DB_MIGRATION_CHECKSUM',
  /** A migration failed to apply; it was rolled back. */
  MIGRATION_FAILED: 'E_DB_MIGRATION_FAILED',
  /** Another runner held the migration lock past `lock_timeout_ms`; nothing was applied by this one. */
  MIGRATION_LOCKED: 'E_DB_MIGRATION_LOCKED',
  /** `migrate` was given a pool behind a transaction pooler and no `direct_url`; nothing was applied. */
  MIGRATION_POOLER: 'E_DB_MIGRATION_POOLER',
  /** `listen` where LISTEN/NOTIFY cannot work: behind a transaction pooler without `direct_url`, or embedded. */
  LISTEN_UNAVAILABLE: 'E_DB_LISTEN_UNAVAILABLE',
  /** A user write failed validation; nothing was written. */
  USER_INVALID: 'E_DB_USER_INVALID',
  /** The user does not exist. */
  USER_NOT_FOUND: 'E_DB_USER_NOT_FOUND',
  /** A document write or query failed validation. */
  DOCUMENT_INVALID: 'E_DB_DOCUMENT_INVALID',
  /** Invalid `DatabaseConfig` or `MongoConfig`. */
  CONFIG: 'E_DB_CONFIG',
  /** Another live process holds the embedded data directory. */
  LOCKED: 'E_DB_LOCKED',
  /** `@diana/db/embedded` or `@diana/db/mongo` was used without its optional peer dependency installed. */
  OPTIONAL_DEPENDENCY: 'E_DB_OPTIONAL_DEPENDENCY',
} as const);

/** A code of `DB_ERROR_CODES`. */
export type DbErrorCode = (typeof DB_ERROR_CODES)[keyof typeof DB_ERROR_CODES];

/** Fields of a PostgreSQL error (postgres.js `PostgresError`) worth keeping. */
interface PgErrorLike {
  code?: string;
  constraint_name?: string;
  table_name?: string;
  severity?: string;
}

// postgres.js raises these codes for its own connection failures.
const CLIENT_CONNECTION_CODES = new Set([
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  'CONNECT_TIMEOUT',
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  // a Unix socket's file is not there (the server is stopped, or has not started yet)
  'ENOENT',
]);

// ...and these for misuse or a broken exchange (the vendored driver's Errors.generic/notSupported)
const DRIVER_CODES = new Set([
  ...CLIENT_CONNECTION_CODES,
  'COPY_IN_PROGRESS',
  'MAX_PARAMETERS_EXCEEDED',
  'MESSAGE_NOT_SUPPORTED',
  'NOT_TAGGED_CALL',
  'SASL_SIGNATURE_MISMATCH',
  'TRANSACTION_ROLLED_BACK',
  'UNDEFINED_VALUE',
  'UNSAFE_TRANSACTION',
]);

/**
 * An error the server or the driver raised — a `PostgresError`, one of the driver's own codes,
 * or a socket's system error — which `toDbError` codes; not an app's own error.
 */
export function isDriverError(error: unknown): boolean {
  if (error instanceof postgres.PostgresError) return true;
  if (!(error instanceof Error)) return false;
  const { code, syscall } = error as { code?: unknown; syscall?: unknown };
  return typeof code === 'string' && (DRIVER_CODES.has(code) || typeof syscall === 'string');
}

// No connection could be opened, so nothing was sent on one: the server refused it or was not
// there (down, restarting, its socket file gone, its name not resolving), did not answer in time,
// or was starting up or shutting down (57P03, sent before any statement).
const NO_CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'CONNECT_TIMEOUT',
  '57P03',
]);

/** Whether the driver error's code says no connection could be opened (what `connect_wait_ms` waits out). */
export function isNoConnectionCode(error: unknown): boolean {
  return NO_CONNECTION_CODES.has((error as PgErrorLike | undefined)?.code ?? '');
}

/**
 * Whether `error` (or one of its causes) failed because no connection to PostgreSQL could be
 * opened: the server refused it, was not there, did not answer in time, or was starting up. A
 * pool with `connect_wait_ms` has already waited that long for the server when it says so.
 */
export function isConnectFailure(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (isNoConnectionCode(current)) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** The server ended the session (pg_terminate_backend, shutdown): the statement did not commit. */
export function isSessionTerminated(error: unknown): boolean {
  const code = (error as PgErrorLike | undefined)?.code;
  return code === '57P01' || code === '57P02' || code === '57P03';
}

/** Wraps a driver error in a `DianaError` with a `E_DB_*` code; the driver error is the cause. */
export function toDbError(error: unknown): DianaError<DbErrorCode> {
  if (error instanceof DianaError) return error as DianaError<DbErrorCode>;
  const pg = (error ?? {}) as PgErrorLike;
  const code = classify(pg.code, pg.severity);
  const context: Record<string, unknown> = {};
  if (pg.code) context.pg_code = pg.code;
  if (pg.constraint_name) context.constraint = pg.constraint_name;
  if (pg.table_name) context.table = pg.table_name;
  const message = error instanceof Error ? error.message : String(error);
  return new DianaError(code, message, { cause: error, context });
}

function classify(pgCode: string | undefined, severity: string | undefined): DbErrorCode {
  if (!pgCode) return DB_ERROR_CODES.QUERY;
  // a transaction left idle past idle_in_transaction_timeout_ms: the server ends the session
  // (FATAL), but the database is there — the caller's transaction took too long
  if (pgCode === '25P03') return DB_ERROR_CODES.TIMEOUT;
  // FATAL (and PANIC) end the session: the server refused it (a database that does not exist,
  // a wrong password, too many connections) or is going away — the database cannot be used
  if (severity === 'FATAL' || severity === 'PANIC') return DB_ERROR_CODES.UNAVAILABLE;
  if (CLIENT_CONNECTION_CODES.has(pgCode) || pgCode.startsWith('08') || pgCode.startsWith('57P')) {
    return pgCode === 'CONNECTION_ENDED' ? DB_ERROR_CODES.CLOSED : DB_ERROR_CODES.UNAVAILABLE;
  }
  // 57014 query_canceled (statement_timeout), 55P03 lock_not_available
  if (pgCode === '57014' || pgCode === '55P03') return DB_ERROR_CODES.TIMEOUT;
  if (pgCode.startsWith('23')) return DB_ERROR_CODES.CONSTRAINT;
  if (pgCode === '40001' || pgCode === '40P01') return DB_ERROR_CODES.CONFLICT;
  return DB_ERROR_CODES.QUERY;
}
