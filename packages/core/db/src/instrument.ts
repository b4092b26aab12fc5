import { createBackoff } from '@diana/utils';
import { isNoConnectionCode, isSessionTerminated, toDbError } from './errors.js';
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
  /** How long a statement that found no connection to open keeps trying (`connect_wait_ms`; 0: not at all). */
  readonly connectWaitMs: number;
  /** Aborted when the pool closes: nothing waits then. */
  readonly closing: AbortSignal;
  /** Statements and transactions pausing before their next try for the server (see `pauseForServer`). */
  readonly waiters: Set<() => void>;
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
  /** Set on a query that must fail at once when no connection opens (`db.ping`). */
  noWait?: boolean;
  /** `@diana/postgres`: a connection took the query (it may have been written). */
  reached: boolean;
  /** `.describe()`: the statement is described, not run. */
  onlyDescribe?: boolean;
  cancelled: unknown;
  cancel(): unknown;
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
// failure is provably harmless, at most once per pooled connection plus one. A statement that
// never reached a connection because none could be opened (the server down or restarting: see
// `waitsForConnection`) was never sent, and is tried again after a backoff until
// `connect_wait_ms` has passed since it was first sent. The first attempt costs one promise (the
// driver's `then` with our two handlers): this is every query's path.
function runWithRetries(
  first: TrackedQuery,
  tracker: QueryTracker,
  reissue: (() => unknown) | undefined,
): Promise<unknown> {
  let attempt = 1;
  let waiting: (() => number | undefined) | undefined;
  // the attempt under way, and whether the caller cancelled the statement (`first.cancel()`)
  // once it was being tried again: a cancel then goes to the attempt under way, and no other
  // attempt starts
  let current = first;
  let cancelled = false;
  const run = (query: TrackedQuery): Promise<unknown> => {
    const started = performance.now();
    tracker.inFlight.add(query);
    // the driver's own `then`: calling it starts the query
    return query.driverThen(
      (result) => {
        tracker.inFlight.delete(query);
        tracker.metrics.recordQuery(performance.now() - started, 'ok');
        // the server answers again: whatever waits for it tries now, not at the end of its pause
        if (tracker.waiters.size > 0) for (const wake of [...tracker.waiters]) wake();
        return result;
      },
      (error: unknown) => {
        tracker.inFlight.delete(query);
        tracker.metrics.recordQuery(performance.now() - started, 'error', (error as { code?: string }).code);
        // the next attempt (made here, not per statement: the first attempt allocates nothing more)
        const again = () => {
          if (cancelled || first.cancelled)
            throw toDbError(Object.assign(new Error('canceling statement due to user request'), { code: '57014' }));
          tracker.metrics.recordRetry();
          const next = (reissue as () => unknown)() as TrackedQuery;
          next.options = { ...next.options, ...first.options };
          if (first.isRaw !== undefined) next.isRaw = first.isRaw;
          // `.describe()`: the retry only describes too (it ran the statement)
          if (first.onlyDescribe) next.onlyDescribe = true;
          if (current === first)
            first.cancel = () => {
              cancelled = true;
              return current.cancel();
            };
          current = next;
          return run(next);
        };
        // a connection took it: it may have been written, whatever the error's code says (a
        // socket the kernel gave up on reports ECONNREFUSED or EHOSTUNREACH for what it carried)
        if (reissue && !first.noWait && !query.reached && waitsForConnection(error, tracker)) {
          waiting ??= connectWait(tracker, started);
          const delay = waiting();
          if (delay === undefined) throw toDbError(error);
          // a pool that closes meanwhile ends the wait at once, with this error
          return pauseForServer(delay, tracker).then(again, () => {
            throw toDbError(error);
          });
        }
        if (!reissue || attempt > tracker.maxRetries || mayCommitPartway(first) || !neverRan(error, tracker, attempt))
          throw toDbError(error);
        attempt++;
        return again();
      },
    );
  };
  return run(first);
}

/**
 * A wait for a server that is down, begun at `since`: each call gives the pause before the next
 * try (100 ms doubling to 1 s, with jitter), the last one shortened so that its try comes right at
 * `connect_wait_ms`; undefined once that has passed. (It gave up as soon as the next pause would
 * end past the wait: up to a second early, when a server back 250 ms before the end of a 1.5 s
 * wait failed five statements of six.)
 */
export function connectWait(tracker: QueryTracker, since: number): () => number | undefined {
  const next = createBackoff({ base_ms: 100, max_ms: 1_000 });
  return () => {
    const left = tracker.connectWaitMs - (performance.now() - since);
    return left <= 0 ? undefined : Math.min(next(), Math.ceil(left));
  };
}

/**
 * The pause before the next try for a server that was down: `delay` ms, or less — it ends as
 * soon as any statement of the pool succeeds (the server is back: a statement waiting then
 * answered up to a second later, at the end of its own pause; stock postgres.js, which keeps
 * such statements queued, answered sooner). Rejects when the pool closes.
 */
export function pauseForServer(delay: number, tracker: QueryTracker): Promise<void> {
  return new Promise((resolve, reject) => {
    if (tracker.closing.aborted) return reject(tracker.closing.reason);
    const end = () => {
      clearTimeout(timer);
      tracker.waiters.delete(woken);
      tracker.closing.removeEventListener('abort', closed);
    };
    const woken = () => {
      end();
      resolve();
    };
    const closed = () => {
      end();
      reject(tracker.closing.reason);
    };
    const timer = setTimeout(woken, delay);
    tracker.waiters.add(woken);
    tracker.closing.addEventListener('abort', closed, { once: true });
  });
}

/**
 * Whether `error` says no connection opened and the pool waits for one (`connect_wait_ms`). The
 * code alone does not say that nothing was sent: the caller knows the statement or transaction
 * never reached a connection.
 */
export function waitsForConnection(error: unknown, tracker: QueryTracker): boolean {
  return tracker.connectWaitMs > 0 && !tracker.closing.aborted && isNoConnectionCode(error);
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

// A procedure (CALL) or a DO block may COMMIT before its end, and so may a script of several
// statements (only `unsafe` without parameters sends one: the simple protocol): a session ended
// in the middle of it may have committed a part, so it is never sent again. (A `;` inside a
// string literal only makes a single statement count as a script: not retried, never replayed.)
const LEADING_CALL_OR_DO = /^(?:\s|--[^\n]*(?:\n|$)|\/\*[\s\S]*?\*\/)*(?:call|do)\b/i;
function mayCommitPartway(query: TrackedQuery): boolean {
  const text = typeof query.strings === 'string' ? query.strings : query.strings.join('$1');
  if (LEADING_CALL_OR_DO.test(text)) return true;
  return !query.tagged && (query.args?.length ?? 0) === 0 && /;\s*\S/.test(text);
}

function isQuery(value: unknown): value is TrackedQuery {
  return value instanceof Promise && 'strings' in value && 'handler' in value;
}

/**
 * Marks `statement` (from `db.sql`, not yet awaited) to fail at once when no connection opens,
 * instead of waiting `connect_wait_ms` for the server: for what reports rather than waits (a
 * probe, a gauge that `/metrics` reads). Returns it. Without `connect_wait_ms` it changes nothing.
 */
export function withoutWait<T extends PromiseLike<unknown>>(statement: T): T {
  (statement as unknown as { noWait: boolean }).noWait = true;
  return statement;
}

/** A postgres.js query (a statement not awaited yet), as opposed to any other promise. */
export const isDriverQuery: (value: unknown) => value is Promise<unknown> = isQuery;
