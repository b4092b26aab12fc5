import { isSessionTerminated, toDbError } from './errors.js';
import type { DbMetrics } from './metrics.js';

/** Live counters shared by a pool and every session derived from it. */
export interface QueryTracker {
  /** Whether the server had already ended backend `pid` (see backend-watch). */
  wasTerminated(pid: number | undefined): boolean;
  /** Queries handed to the driver and not settled yet. */
  readonly inFlight: Set<TrackedQuery>;
  /** Transactions holding a connection. */
  transactions: number;
  readonly metrics: DbMetrics;
}

/** The driver's query object, seen through the fields we read. */
interface TrackedQuery extends Promise<unknown> {
  active: boolean;
  tagged: boolean;
  strings: TemplateStringsArray | string;
  args: unknown[];
  options: Record<string, unknown>;
  isRaw?: boolean | 'values';
  cursorFn?: unknown;
  forEachFn?: unknown;
  /** The backend the driver sent it to. */
  state?: { pid?: number } | null;
}

/**
 * Wraps a postgres.js `sql` (pool or transaction) so that every executed query
 * - rejects with a coded `DianaError` (the driver's error is its cause),
 * - is counted for pool stats and metrics,
 * - is retried once on a fresh connection when the server ended its session before the
 *   statement could commit (pg_terminate_backend, restart) — outside transactions only.
 * Fragments, identifiers and helpers pass through untouched.
 */
// biome-ignore lint/suspicious/noExplicitAny: the driver's sql tag is a callable with many overloads
export function instrumentSql<T extends (...args: any[]) => any>(
  sql: T,
  tracker: QueryTracker,
  inTransaction: boolean,
): T {
  const wrap = (query: unknown, reissue: () => unknown) =>
    isQuery(query) ? track(query, tracker, inTransaction ? undefined : reissue) : query;
  return new Proxy(sql, {
    apply(target, thisArg, args: unknown[]) {
      const query = Reflect.apply(target, thisArg, args);
      return wrap(query, () => Reflect.apply(target, thisArg, args));
    },
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver);
      if (property === 'unsafe' && typeof value === 'function') {
        return (...args: unknown[]) => wrap(value.apply(target, args), () => value.apply(target, args));
      }
      return value;
    },
  }) as T;
}

function track(query: TrackedQuery, tracker: QueryTracker, reissue: (() => unknown) | undefined): TrackedQuery {
  const driverThen = Object.getPrototypeOf(query).then as Promise<unknown>['then'];
  let settled: Promise<unknown> | undefined;
  const run = (): Promise<unknown> => {
    settled ??= execute(query, driverThen, tracker).catch((error: unknown) => {
      if (!reissue || query.cursorFn || query.forEachFn || !neverRan(error, query, tracker)) throw toDbError(error);
      tracker.metrics.recordRetry();
      const again = reissue() as TrackedQuery;
      again.options = { ...again.options, ...query.options };
      if (query.isRaw !== undefined) again.isRaw = query.isRaw;
      return execute(again, driverThen, tracker).catch((retryError: unknown) => {
        throw toDbError(retryError);
      });
    });
    return settled;
  };
  // `await query` (and .then/.catch/.finally) goes through the wrapped run.
  Object.defineProperty(query, 'then', {
    configurable: true,
    value: (onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) =>
      run().then(onFulfilled, onRejected),
  });
  return query;
}

async function execute(query: TrackedQuery, driverThen: Promise<unknown>['then'], tracker: QueryTracker) {
  const started = performance.now();
  tracker.inFlight.add(query);
  try {
    const result = await new Promise((resolve, reject) => {
      driverThen.call(query, resolve, reject);
    });
    tracker.metrics.recordQuery(performance.now() - started, 'ok');
    return result;
  } catch (error) {
    tracker.metrics.recordQuery(performance.now() - started, 'error', (error as { code?: string }).code);
    throw error;
  } finally {
    tracker.inFlight.delete(query);
  }
}

const LOST_CONNECTION_CODES = new Set(['CONNECTION_CLOSED', 'ECONNRESET', 'EPIPE']);

// The statement cannot have committed: the server ended its session before answering it, or
// it was written to a backend the server had already ended.
function neverRan(error: unknown, query: TrackedQuery, tracker: QueryTracker): boolean {
  if (isSessionTerminated(error)) return true;
  const code = (error as { code?: string }).code ?? '';
  return LOST_CONNECTION_CODES.has(code) && tracker.wasTerminated(query.state?.pid);
}

function isQuery(value: unknown): value is TrackedQuery {
  return value instanceof Promise && 'strings' in value && 'handler' in value;
}
