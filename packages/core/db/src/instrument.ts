import { isSessionTerminated, toDbError } from './errors.js';
import type { DbMetrics } from './metrics.js';

/** Live counters shared by a pool and every session derived from it. */
export interface QueryTracker {
  /** Whether the server has just ended sessions of this pool (see backend-watch). */
  serverEndedSessions(): boolean;
  /** Queries handed to the driver and not settled yet. */
  readonly inFlight: Set<TrackedQuery>;
  /** Transactions holding a connection. */
  transactions: number;
  /** How many times a statement that provably never ran may be retried (pool size + 1). */
  readonly maxRetries: number;
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
  /** Takes the place of `then` when set (`@diana/postgres`). */
  thenOverride: Promise<unknown>['then'] | null;
  /** The driver's own `then`: calling it starts the query. */
  driverThen: Promise<unknown>['then'];
}

/**
 * Wraps a postgres.js `sql` (pool or transaction) so that every executed query
 * - rejects with a coded `DianaError` (the driver's error is its cause),
 * - is counted for pool stats and metrics,
 * - is retried on a fresh connection when the server ended its session before the statement
 *   could commit (pg_terminate_backend, restart) — outside transactions only.
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
      // a reserved connection's queries are coded too; never retried (its session state matters)
      if (property === 'reserve' && typeof value === 'function') {
        return async () => instrumentSql(await value.apply(target, []), tracker, true);
      }
      return value;
    },
  }) as T;
}

function track(query: TrackedQuery, tracker: QueryTracker, reissue: (() => unknown) | undefined): TrackedQuery {
  let settled: Promise<unknown> | undefined;
  // `await query` (and .then/.catch/.finally) goes through the wrapped run. The driver's hook, not
  // an own `then` on the query: an own `then` on any promise slows every promise of the process
  // (see @diana/postgres's query.js)
  query.thenOverride = ((onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) => {
    settled ??= runWithRetries(query, tracker, query.cursorFn || query.forEachFn ? undefined : reissue);
    return settled.then(onFulfilled, onRejected);
  }) as TrackedQuery['then'];
  return query;
}

// Each retry may land on another connection the server ended too, so it goes on while every
// failure is provably harmless, at most once per pooled connection plus one. The first attempt
// costs one promise (the driver's `then` with our two handlers): this is every query's path.
function runWithRetries(
  first: TrackedQuery,
  tracker: QueryTracker,
  reissue: (() => unknown) | undefined,
): Promise<unknown> {
  let attempt = 1;
  const run = (query: TrackedQuery): Promise<unknown> => {
    const started = performance.now();
    tracker.inFlight.add(query);
    // the driver's own `then`: calling it starts the query
    return query.driverThen(
      (result) => {
        tracker.inFlight.delete(query);
        tracker.metrics.recordQuery(performance.now() - started, 'ok');
        return result;
      },
      (error: unknown) => {
        tracker.inFlight.delete(query);
        tracker.metrics.recordQuery(performance.now() - started, 'error', (error as { code?: string }).code);
        if (!reissue || attempt > tracker.maxRetries || !neverRan(error, tracker, attempt)) throw toDbError(error);
        attempt++;
        tracker.metrics.recordRetry();
        const again = reissue() as TrackedQuery;
        again.options = { ...again.options, ...first.options };
        if (first.isRaw !== undefined) again.isRaw = first.isRaw;
        return run(again);
      },
    );
  };
  return run(first);
}

const LOST_CONNECTION_CODES = new Set(['CONNECTION_CLOSED', 'ECONNRESET', 'EPIPE']);

// The statement did not commit: the server ended its session before answering it (57P0x), or
// the connection was lost while the server was ending this pool's sessions — the statement
// was written to a backend that had stopped reading, or was cut off and rolled back.
function neverRan(error: unknown, tracker: QueryTracker, attempt: number): boolean {
  if (isSessionTerminated(error)) return true;
  const code = (error as { code?: string }).code ?? '';
  // The connection never finished its start-up, so the statement was never sent. Retried
  // once only: during a real outage each attempt waits the whole connect timeout.
  if (code === 'CONNECT_TIMEOUT') return attempt === 1;
  return LOST_CONNECTION_CODES.has(code) && tracker.serverEndedSessions();
}

function isQuery(value: unknown): value is TrackedQuery {
  return value instanceof Promise && 'strings' in value && 'handler' in value;
}

/** A postgres.js query (a statement not awaited yet), as opposed to any other promise. */
export const isDriverQuery: (value: unknown) => value is Promise<unknown> = isQuery;
