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
  let settled: Promise<unknown> | undefined;
  // `await query` (and .then/.catch/.finally) goes through the wrapped run.
  Object.defineProperty(query, 'then', {
    configurable: true,
    value: (onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) => {
      settled ??= runWithRetries(query, tracker, query.cursorFn || query.forEachFn ? undefined : reissue);
      return settled.then(onFulfilled, onRejected);
    },
  });
  return query;
}

// Each retry may land on another connection the server ended too, so it goes on while every
// failure is provably harmless, at most once per pooled connection plus one.
async function runWithRetries(first: TrackedQuery, tracker: QueryTracker, reissue: (() => unknown) | undefined) {
  let query = first;
  let sentTo = watchPid(query);
  for (let attempt = 1; ; attempt++) {
    try {
      return await execute(query, tracker);
    } catch (error) {
      if (!reissue || attempt > tracker.maxRetries || !neverRan(error, sentTo(), tracker)) throw toDbError(error);
      tracker.metrics.recordRetry();
      const again = reissue() as TrackedQuery;
      again.options = { ...again.options, ...first.options };
      if (first.isRaw !== undefined) again.isRaw = first.isRaw;
      query = again;
      sentTo = watchPid(query);
    }
  }
}

// The driver points `state` at its connection's backend record, which it rewrites on
// reconnect: keep the pid the query was actually sent to.
function watchPid(query: TrackedQuery): () => number | undefined {
  let pid: number | undefined;
  let state = query.state;
  Object.defineProperty(query, 'state', {
    configurable: true,
    get: () => state,
    set: (value: TrackedQuery['state']) => {
      state = value;
      pid = value?.pid ?? undefined;
    },
  });
  return () => pid;
}

async function execute(query: TrackedQuery, tracker: QueryTracker) {
  const driverThen = Object.getPrototypeOf(query).then as Promise<unknown>['then'];
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
function neverRan(error: unknown, pid: number | undefined, tracker: QueryTracker): boolean {
  if (isSessionTerminated(error)) return true;
  const code = (error as { code?: string }).code ?? '';
  return LOST_CONNECTION_CODES.has(code) && tracker.wasTerminated(pid);
}

function isQuery(value: unknown): value is TrackedQuery {
  return value instanceof Promise && 'strings' in value && 'handler' in value;
}
