import { DianaError, type Logger, libpqSocketUrl } from '@diana/utils';
import type { DatabaseConfig, Pooler } from './config.js';
import { DB_ERROR_CODES } from './errors.js';

/** How the pool reaches PostgreSQL, read from its config. */
export interface PoolerPlan {
  readonly pooler: Pooler;
  /** The URL handed to the driver: `pgbouncer=…` removed (postgres.js would send it as a startup parameter). */
  readonly url: string;
  /** The direct URL, when one is needed and given. */
  readonly direct_url: string | undefined;
}

/** `pooler: transaction` when the setting says so or the URL carries `?pgbouncer=true`. */
export function planPooler(settings: DatabaseConfig): PoolerPlan {
  // libpq's other socket forms (Cloud SQL's `app:pw@/db?host=/cloudsql/…`, a %2F-encoded host) in the one the driver reads
  const raw = libpqSocketUrl(settings.url.reveal());
  const url = new URL(raw);
  checkSocketHost(url, 'url');
  const flag = url.searchParams.get('pgbouncer');
  url.searchParams.delete('pgbouncer');
  const pooler: Pooler = settings.pooler === 'transaction' || flag === 'true' ? 'transaction' : 'none';
  const direct = settings.direct_url ? new URL(libpqSocketUrl(settings.direct_url.reveal())) : undefined;
  if (direct) checkSocketHost(direct, 'direct_url');
  direct?.searchParams.delete('pgbouncer');
  return {
    pooler,
    url: flag === null ? raw : url.toString(),
    direct_url: pooler === 'transaction' ? direct?.toString() : undefined,
  };
}

/**
 * Says once, at start, what a transaction pooler changes: the server-side timeouts are not
 * sent (PgBouncer refuses unknown startup parameters and could not keep them per transaction
 * anyway), and how LISTEN works.
 */
export function logPoolerPlan(plan: PoolerPlan, settings: DatabaseConfig, logger: Logger): void {
  if (plan.pooler !== 'transaction') return;
  logger.info(
    {
      pooler: 'transaction',
      statement_timeout_ms: settings.statement_timeout_ms,
      idle_in_transaction_timeout_ms: settings.idle_in_transaction_timeout_ms,
    },
    'database through a transaction pooler: prepared statements off; statement_timeout_ms and ' +
      'idle_in_transaction_timeout_ms are not sent to the server — set them there ' +
      "(ALTER ROLE <user> SET statement_timeout = '30s'; ALTER ROLE <user> SET " +
      "idle_in_transaction_session_timeout = '60s') or in PgBouncer (query_timeout, idle_transaction_timeout)",
  );
  logger.info(
    { listen: plan.direct_url ? 'direct_url' : 'off' },
    plan.direct_url
      ? 'LISTEN/NOTIFY and migrations use direct_url (a session outside the pooler)'
      : 'no direct_url: LISTEN/NOTIFY is off (listeners poll) and migrations refuse to run (E_DB_MIGRATION_POOLER)',
  );
}

/**
 * `?host=` is libpq's: an absolute path there is the directory of a Unix-domain socket
 * (`postgres://app@localhost/diana?host=/var/run/postgresql`; the driver then connects to
 * `<dir>/.s.PGSQL.<port>`). A host name there would reach the server as an unknown startup
 * parameter, so it is refused here, before anything connects.
 */
function checkSocketHost(url: URL, key: 'url' | 'direct_url'): void {
  const hosts = url.searchParams.getAll('host');
  if (hosts.length === 0) return;
  if (hosts.length > 1 || !hosts[0]?.startsWith('/'))
    throw new DianaError(
      DB_ERROR_CODES.CONFIG,
      `database ${key}: ?host= takes one absolute path, the directory of PostgreSQL's Unix socket ` +
        '(e.g. ?host=/var/run/postgresql); put a TCP host name in the URL itself',
    );
}
