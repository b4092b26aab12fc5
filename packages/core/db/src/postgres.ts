import { AsyncLocalStorage } from 'node:async_hooks';
import { once, setMaxListeners } from 'node:events';
import { connect, type Socket } from 'node:net';
import postgres, { type Options, type Sql, type TransactionSql } from '@diana/postgres';
import { type Closeable, createCloser, DianaError, getPackageLogger, type Logger, parseOrThrow } from '@diana/utils';
import { createBackendWatch } from './backend-watch.js';
import { DatabaseConfig, type DatabaseConfigInput, type Pooler } from './config.js';
import { DB_ERROR_CODES, isDriverError, toDbError } from './errors.js';
import {
  connectWait,
  instrumentSql,
  isDriverQuery,
  pauseForServer,
  type QueryTracker,
  waitsForConnection,
  withoutWait,
} from './instrument.js';
import { createDbMetrics, type PoolStats } from './metrics.js';
import { logPoolerPlan, planPooler } from './pooler.js';

/** A session to run queries on: the pool, or the transaction in progress. */
export type DbSession = Sql | TransactionSql;

/** The PostgreSQL database every package receives as `deps.db`. */
export interface Database extends Closeable {
  /** The pool's `sql` tag (postgres.js). Errors are coded `E_DB_*`. */
  readonly sql: Sql;
  /** The innermost transaction running in this async context, or the pool. */
  session(): DbSession;
  /**
   * Runs `fn` in a transaction: committed when it resolves, rolled back when it throws.
   * Called inside another transaction it becomes a savepoint.
   */
  transaction<T>(fn: (tx: TransactionSql) => Promise<T>): Promise<T>;
  /**
   * Runs `callback` once the outermost transaction of this async context commits (dropped if
   * it, or the savepoint the callback was registered in, rolls back); with no transaction in
   * progress, right away. For side effects outside the database — cache refreshes, notices —
   * that must never show uncommitted data. A callback that throws is logged, not rethrown.
   */
  onCommit(callback: () => unknown): Promise<void>;
  /**
   * Runs `work` inside the outermost transaction of this async context, after its function has
   * resolved and right before `COMMIT` (dropped if it, or the savepoint it was registered in, rolls
   * back); its failure rolls the transaction back and is what `transaction` rejects with. For
   * writes gathered while a transaction runs and written as one statement at its end (the event
   * bus's outbox). Outside a transaction, right away on the pool. Absent on a `Database` that
   * cannot defer (callers then write at once). A `work` that returns its one statement without
   * awaiting it (`(tx) => tx\`insert …\``, not an async function) is not waited for: such
   * statements are written together with `COMMIT` (one round trip less each); the first to fail
   * rolls all back and is what `transaction` rejects with.
   */
  beforeCommit?(work: (tx: DbSession) => Promise<unknown>): Promise<void>;
  /**
   * False when LISTEN/NOTIFY cannot work: a single-session server (embedded PGlite), or a
   * transaction pooler without `direct_url`. Listeners must poll then. Absent means true.
   */
  readonly listen_notify?: boolean;
  /** `transaction` when the pool goes through a transaction pooler (PgBouncer). Absent means `none`. */
  readonly pooler?: Pooler;
  /**
   * LISTEN on `channel` on a session of its own: the driver's listener connection, or — behind
   * a transaction pooler — one to `direct_url`. Rejects with `E_DB_LISTEN_UNAVAILABLE` where
   * `listen_notify` is false.
   */
  listen(channel: string, onNotify: (payload: string) => void): Promise<{ unlisten(): Promise<void> }>;
  /**
   * A database reached without a pooler, for work that needs a session (migrations): this one
   * when there is no pooler, else a small pool on `direct_url` opened on first use and closed
   * with this one (`E_DB_CLOSED` when first asked after `close()`); undefined behind a
   * transaction pooler without `direct_url`.
   */
  direct(): Database | undefined;
  /** Round trip to the server within `timeout_ms` (default 2 000). */
  ping(options?: { timeout_ms?: number }): Promise<{ latency_ms: number }>;
  /** Pool occupancy now. */
  stats(): PoolStats;
  /** Waits up to `timeout_ms` (default 5 000) for running queries, then ends every connection. */
  close(options?: { timeout_ms?: number }): Promise<void>;
}

/** What `createPostgres` needs besides its config. */
export interface PostgresDeps {
  readonly logger?: Logger;
}

/** A PostgreSQL pool on postgres.js with server-side timeouts, coded errors, stats and metrics. */
export function createPostgres(config: DatabaseConfigInput, deps: PostgresDeps = {}): Database {
  const settings = parseOrThrow(DatabaseConfig, config, {
    code: DB_ERROR_CODES.CONFIG,
    message: 'invalid database config',
  });
  const logger = getPackageLogger(deps.logger, 'db');
  const plan = planPooler(settings);
  const pooled = plan.pooler === 'transaction';
  // The driver removes every socket listener when it drops a connection, so open sockets are
  // counted by looking at them rather than by listening for 'close'.
  const sockets = new Set<Socket>();
  const countOpen = () => {
    for (const socket of sockets) if (socket.destroyed) sockets.delete(socket);
    return sockets.size;
  };
  const watch = createBackendWatch();
  const connectTimeoutMs = settings.connect_timeout_ms;

  const options: Options<Record<string, postgres.PostgresType>> = {
    max: settings.pool_max,
    idle_timeout: settings.idle_timeout_ms / 1000,
    connect_timeout: connectTimeoutMs / 1000,
    // The wait before a connection is opened again after it closed or its connect was refused,
    // in seconds, by the failures in a row: 25–50 ms, doubling, at most 0.5–1 s. The driver's own
    // grows by 3× up to 10–20 s, so a bot whose server restarted for a few seconds waited up to
    // 20 s more before it answered again. At most 1 s (it was 2 s): a statement waiting for the
    // server (`connect_wait_ms`) is answered within about 1 s of its return (bench:db-recovery).
    backoff: (retries: number) => (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** retries, 1),
    max_lifetime: settings.max_lifetime_ms / 1000,
    onnotice: () => {},
    // A transaction pooler hands each transaction any server connection: a statement prepared
    // on one is unknown on the next (PgBouncer 1.18 does not track them).
    prepare: !pooled,
    // ...and it refuses unknown startup parameters; the timeouts are then the server's or the
    // pooler's to set (logged below, README "Through PgBouncer").
    connection: pooled
      ? { application_name: settings.application_name }
      : {
          application_name: settings.application_name,
          statement_timeout: settings.statement_timeout_ms,
          idle_in_transaction_session_timeout: settings.idle_in_transaction_timeout_ms,
        },
    // Our own socket factory, so that the pool can say how many connections are open.
    socket: async (driverOptions: { host: string[]; port: number[]; path?: string | false }) => {
      const socket = driverOptions.path
        ? connect(driverOptions.path)
        : connect(driverOptions.port[0] ?? 5432, driverOptions.host[0] ?? '127.0.0.1');
      const timer = setTimeout(
        () => socket.destroy(Object.assign(new Error('connect timeout'), { code: 'CONNECT_TIMEOUT' })),
        connectTimeoutMs,
      );
      try {
        await once(socket, 'connect');
      } finally {
        clearTimeout(timer);
      }
      sockets.add(socket);
      watch.attach(socket);
      return socket;
    },
  } as Options<Record<string, postgres.PostgresType>>;
  const raw = postgres(plan.url, options);
  logPoolerPlan(plan, settings, logger);

  // aborted as the pool closes: statements and transactions waiting for the server stop waiting.
  // Each waiting one listens (an outage of seconds under load: hundreds), so no listener limit —
  // Node's default of 10 printed a MaxListenersExceededWarning from the eleventh on
  const closing = new AbortController();
  setMaxListeners(0, closing.signal);
  const tracker: QueryTracker = {
    serverEndedSessions: watch.serverEndedSessions,
    inFlight: new Set(),
    transactions: 0,
    maxRetries: settings.pool_max + 1,
    connectWaitMs: settings.connect_wait_ms,
    closing: closing.signal,
    waiters: new Set(),
    metrics: createDbMetrics(settings.application_name, () => stats()),
  };
  const sql = instrumentSql(raw, tracker, false);
  const current = new AsyncLocalStorage<TransactionSql>();
  // Where AsyncLocalStorage runs on async hooks (Node 20 and 22), an enabled store costs every
  // promise of the process a hook call; it is switched off whenever no transaction is open
  // (`run` switches it on again). With Node 24's async context frames there is nothing to save.
  const hookBased = typeof (current as unknown as { _enable?: unknown })._enable === 'function';
  // Transaction bodies still running. A body can outlive its transaction: the driver rejects a
  // transaction at once when its connection closes, while the body may be waiting on something
  // else. Switching the store off then would take the body's transaction from it, and what it did
  // next through `session()` or `beforeCommit` would run on its own, outside any transaction.
  let bodies = 0;
  const storeIdle = () => {
    if (tracker.transactions === 0 && bodies === 0 && hookBased) current.disable();
  };
  // Callbacks waiting for a commit, per transaction or savepoint (keyed by its raw session).
  const pendingCommit = new WeakMap<TransactionSql, Array<() => unknown>>();
  // Work to run right before COMMIT, per transaction or savepoint (moved up on release).
  const pendingBeforeCommit = new WeakMap<TransactionSql, Array<(tx: DbSession) => Promise<unknown>>>();
  // A commit's callbacks start together, in the order they were registered, and are waited for
  // together: side effects that go out per event-loop turn (the user-state cache's writes of the
  // slices one transaction changed) then make one round trip, not one each.
  const runCallbacks = (callbacks: Array<() => unknown>) =>
    Promise.all(
      callbacks.map(async (callback) => {
        try {
          await callback();
        } catch (error) {
          logger.error({ err: error }, 'onCommit callback failed');
        }
      }),
    );

  const stats = (): PoolStats => {
    let active = 0;
    let waiting = 0;
    for (const query of tracker.inFlight) {
      if (query.active) active++;
      else waiting++;
    }
    const open = countOpen();
    return {
      open,
      busy: Math.min(open, active + tracker.transactions),
      waiting,
      max: settings.pool_max,
    };
  };

  // A transaction whose BEGIN found no connection to open (its function not called: nothing was
  // sent) is begun again after a backoff, until `connect_wait_ms` has passed (see instrument.ts).
  const beginWaiting = async <T>(begin: () => Promise<T>, entered: () => boolean): Promise<T> => {
    const since = performance.now();
    let waiting: (() => number | undefined) | undefined;
    for (;;) {
      try {
        return await begin();
      } catch (error) {
        if (entered() || !waitsForConnection(error, tracker)) throw error;
        waiting ??= connectWait(tracker, since);
        const delay = waiting();
        if (delay === undefined) throw error;
        tracker.metrics.recordRetry();
        // a pool that closes meanwhile ends the wait at once, with this error
        await pauseForServer(delay, tracker).catch(() => {
          throw error;
        });
      }
    }
  };

  const transaction = async <T>(fn: (tx: TransactionSql) => Promise<T>): Promise<T> => {
    const outer = current.getStore();
    let callbacks: Array<() => unknown> = [];
    const beforeCommit: Array<(tx: DbSession) => Promise<unknown>> = [];
    // the before-commit statements sent with COMMIT: awaited (for their metrics) only once the
    // transaction committed — executed any later, they would run outside the transaction
    const withCommit: Promise<unknown>[] = [];
    // what the function (or a before-commit work) threw: the transaction rejects with it as it is
    // when it is the app's own (a statement's failure it let through is coded, here if not already)
    let thrown: { readonly error: unknown } | undefined;
    // whether the function was called: a BEGIN that found no connection to open did not call it,
    // so the transaction may be begun again (`connect_wait_ms`)
    let entered = false;
    const body = async (tx: TransactionSql) => {
      entered = true;
      pendingCommit.set(tx, callbacks);
      pendingBeforeCommit.set(tx, beforeCommit);
      bodies++;
      try {
        return await current.run(tx, async () => {
          const instrumented = instrumentSql(tx, tracker, true);
          const result = await fn(instrumented);
          // the outermost transaction runs what it and its released savepoints gathered, in order
          // (the length is read at each step: work added meanwhile runs too). A work that returns its
          // one statement unawaited is not waited for: the statement is sent at once and the next
          // work runs; the last one is written with COMMIT. Statements returned so in a row go out in
          // one write with COMMIT (a round trip less each). PostgreSQL runs them in order; the first
          // to fail fails those after it, COMMIT answers ROLLBACK and the transaction rejects with
          // that first failure. None is ever retried (a retry would run after COMMIT).
          if (!outer)
            for (let i = 0; i < beforeCommit.length; i++) {
              const sent = (beforeCommit[i] as (typeof beforeCommit)[number])(instrumented);
              if (!isDriverQuery(sent)) {
                await sent;
                continue;
              }
              const query = sent as Promise<unknown> & { noRetry?: boolean; execute(): unknown };
              withCommit.push(query);
              if (i === beforeCommit.length - 1)
                (tx as TransactionSql & { commitWith(query: unknown): void }).commitWith(query);
              else {
                query.noRetry = true;
                query.execute();
              }
            }
          return result;
        });
      } catch (error) {
        thrown = { error };
        throw error;
      } finally {
        bodies--;
        storeIdle();
      }
    };
    if (outer) {
      const result = (await outer.savepoint(body)) as T;
      // released: its callbacks now wait for the enclosing transaction
      pendingCommit.get(outer)?.push(...callbacks);
      pendingBeforeCommit.get(outer)?.push(...beforeCommit);
      return result;
    }
    tracker.transactions++;
    try {
      const result = await beginWaiting(
        () => raw.begin(body) as Promise<T>,
        () => entered,
      );
      await Promise.all(withCommit);
      tracker.metrics.recordTransaction('commit');
      const committed = callbacks;
      callbacks = [];
      await runCallbacks(committed);
      return result;
    } catch (error) {
      tracker.metrics.recordTransaction('rollback');
      // BEGIN, COMMIT or the session failing, or a statement's failure (through db.session(), not
      // coded on its way), is the driver's or the server's error, and coded here
      throw thrown !== undefined && error === thrown.error && !isDriverError(error) ? error : toDbError(error);
    } finally {
      tracker.transactions--;
      storeIdle();
    }
  };

  // The session outside the pooler (migrations, LISTEN), opened on first use.
  let directDb: Database | undefined;
  const direct = (): Database | undefined => {
    if (!pooled) return self;
    if (!plan.direct_url) return undefined;
    // a pool opened after close() would never be closed
    if (closer.closed && !directDb) throw new DianaError(DB_ERROR_CODES.CLOSED, 'the pool was closed');
    directDb ??= createPostgres(
      {
        ...settings,
        url: plan.direct_url,
        direct_url: undefined,
        pooler: 'none',
        pool_max: 2,
        application_name: `${settings.application_name.slice(0, 56)}-direct`,
      },
      deps,
    );
    return directDb;
  };

  const closer = createCloser(async ({ timeout_ms = 5_000 }) => {
    closing.abort();
    await directDb?.close({ timeout_ms });
    tracker.metrics.dispose();
    await raw.end({ timeout: timeout_ms / 1000 });
    // end() resolves once each connection has said goodbye; give the sockets a moment to
    // close, then destroy what is left (a backend still busy never answers the goodbye).
    const deadline = Date.now() + 200;
    while (countOpen() > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    for (const socket of sockets) socket.destroy();
    logger.debug({ application_name: settings.application_name }, 'pool closed');
  });

  const self: Database = {
    sql,
    listen_notify: !pooled || plan.direct_url !== undefined,
    pooler: plan.pooler,
    async listen(channel, onNotify) {
      const target = direct();
      if (!target) {
        throw new DianaError(
          DB_ERROR_CODES.LISTEN_UNAVAILABLE,
          'LISTEN does not work through a transaction pooler: set direct_url (DIANA_DATABASE_DIRECT_URL)',
        );
      }
      const listener = await target.sql.listen(channel, onNotify);
      return { unlisten: () => listener.unlisten() };
    },
    direct,
    session: () => current.getStore() ?? sql,
    transaction,
    async beforeCommit(work) {
      const tx = current.getStore();
      const waiting = tx && pendingBeforeCommit.get(tx);
      if (waiting) waiting.push(work);
      else await work(sql);
    },
    async onCommit(callback) {
      const tx = current.getStore();
      const waiting = tx && pendingCommit.get(tx);
      if (waiting) waiting.push(callback);
      else await runCallbacks([callback]);
    },
    async ping({ timeout_ms = 2_000 } = {}) {
      const started = performance.now();
      // a probe says at once that the server is down: it does not wait for it (connect_wait_ms)
      const query = withoutWait(sql`select 1 as ok`);
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          reject(new DianaError(DB_ERROR_CODES.TIMEOUT, `ping took longer than ${timeout_ms} ms`));
        }, timeout_ms);
      });
      try {
        await Promise.race([query, deadline]);
      } finally {
        clearTimeout(timer);
      }
      return { latency_ms: performance.now() - started };
    },
    stats,
    close: closer.close,
    [Symbol.asyncDispose]: closer[Symbol.asyncDispose],
  };
  return self;
}

/** The session to use: the transaction in progress in this async context, or the pool. */
export function getDbSession(db: Database): DbSession {
  return db.session();
}
