import {
  type Closeable,
  createCloser,
  createEventWaiter,
  DianaError,
  ERROR_CODES,
  getPackageLogger,
  type Logger,
} from '@diana/utils';
import { Cluster, type ClusterOptions, Command, Redis, type RedisOptions } from 'ioredis';
import { type ClusterNodeInput, clusterSeeds } from './cluster-nodes.js';
import { endWhenDisconnected } from './disconnect.js';
import { REDIS_ERROR_CODES } from './errors.js';
import { limitCommandsNotHandshake } from './handshake.js';
import { isSocketUrl, socketOptions } from './socket-url.js';
import { resubscribeOnReady } from './subscriptions.js';

/** A client the connector hands out: one server's `Redis`, or a `Cluster` when the connector was given cluster nodes. */
export type RedisClient = Redis | Cluster;

/** First reconnect delay; each later attempt waits this much longer. */
export const REDIS_RETRY_STEP_MS = 50;
/** Longest wait between two reconnect attempts. */
export const REDIS_RETRY_MAX_MS = 1_000;

/**
 * The one reconnect curve of every Diana Redis client: 50 ms more per attempt, at most 1 s,
 * forever (commands fail fast meanwhile, so reconnecting never blocks a caller). Three of the
 * four curves it replaces were this one; the fourth (the cache's, up to 2 s) only made the cache
 * notice a restarted Redis later. See the README for why.
 */
export function redisRetryDelay(times: number): number {
  return Math.min(times * REDIS_RETRY_STEP_MS, REDIS_RETRY_MAX_MS);
}

/** Options of `createRedisConnector`. */
export interface RedisConnectorOptions {
  /**
   * `redis://…`, `rediss://…`, or `unix:///path/to/redis.sock[?db=N]` (a Unix-domain socket on
   * this host; no credentials); merged under `options`. Ignored when `cluster` is given.
   */
  readonly url?: string;
  /**
   * A Redis Cluster: every client is an ioredis `Cluster` seeded with `nodes` (`host:port`,
   * `redis://[:password@]host:port`, or `{ host, port }`; one reachable node is enough, the
   * rest is discovered). Credentials and TLS of the first URL apply to every node.
   */
  readonly cluster?: { readonly nodes: readonly ClusterNodeInput[] };
  /** ioredis options (host, port, password, tls, keyPrefix, …); retry and queue settings are the connector's. With `cluster`, they apply to each node connection. */
  readonly options?: RedisOptions;
  readonly logger?: Logger;
}

/** Per-client options of a command client. */
export interface RedisCommandClientOptions {
  /** Time limit of every command. @default 5_000 */
  readonly command_timeout_ms?: number;
  /**
   * How many reconnects a command sent on a connection that dropped survives before it is
   * rejected (ioredis's `maxRetriesPerRequest`; bounded, never `null`). @default 0
   */
  readonly max_retries_per_request?: number;
  /** Names the client in logs. */
  readonly name?: string;
}

/** Hands out fail-fast ioredis clients, all on one setup and one retry curve. */
export interface RedisConnector extends Closeable {
  /**
   * A command client: no offline queue and no resend of a command whose connection dropped
   * (a write is never sent later behind its caller's back), a time limit per command, and
   * reconnects forever on `redisRetryDelay`. The caller owns it (closes it); `close` of the
   * connector closes whatever is still open.
   */
  command(options?: RedisCommandClientOptions): RedisClient;
  /**
   * A client for blocking reads and subscriptions (XREADGROUP BLOCK, SUBSCRIBE): its commands
   * wait for the connection (offline queue on, no per-request retry limit), so a subscription
   * or a read loop comes back by itself after a reconnect.
   */
  blocking(options?: { readonly name?: string }): RedisClient;
  /**
   * One PING on the connector's own command client; rejects after `timeout_ms`, or at once when
   * the client reports a connection error while it waits to be ready. Resolves to the round trip in ms.
   */
  ping(options?: { readonly timeout_ms?: number }): Promise<number>;
  /**
   * Resolves once every client this connector has made so far is connected (a cluster client:
   * its slots known). A new client connects on its own; a start that takes work only after this
   * never meets a fail-fast client still making its first connection. Rejects after `timeout_ms`,
   * or at once when a client it waits for reports a connection error.
   */
  ready(options?: { readonly timeout_ms?: number }): Promise<void>;
  /** Where clients connect (no credentials), for logs. */
  readonly where: string;
  /** True when the clients are `Cluster`s. */
  readonly cluster: boolean;
  /** Closes every client this connector made that is still open: QUIT, then a hard disconnect after `timeout_ms`. */
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
}

/**
 * The fail-fast Redis setup, once. Nothing connects until a client is asked for; each client
 * is its own connection (a blocking read must never hold up a command).
 */
export function createRedisConnector(options: RedisConnectorOptions = {}): RedisConnector {
  const logger = getPackageLogger(options.logger, 'redis');
  const open = new Set<RedisClient>();
  let closeTimeout = 1_000;
  let pingClient: RedisClient | undefined;
  const seeds = options.cluster ? clusterSeeds(options.cluster.nodes) : undefined;
  // a socket URL is checked now, not at the first client
  const socket = !seeds && options.url && isSocketUrl(options.url) ? socketOptions(options.url) : undefined;
  if (!seeds && options.url && !socket) checkDatabasePath(options.url);
  const where = socket ? `unix://${socket.path}` : describe(options);
  // One waiter per client: it holds one 'ready' listener however many callers wait, so
  // polling through an outage (a start gate pings every few seconds) adds none.
  const readyWaiters = new WeakMap<RedisClient, (ms: number, signal?: AbortSignal) => Promise<void>>();
  // each client's last connection error since it was last ready: a wait that times out says why
  // (`connect ECONNREFUSED 127.0.0.1:6380`), not only the client's status
  const lastErrors = new WeakMap<RedisClient, string>();
  // settled once the server refuses the URL's database (`/N` or `?db=N` past its `databases`):
  // ioredis would go on in database 0, so each client is stopped and every wait fails with this
  let refuseDatabase: (error: Error) => void = () => {};
  const databaseRefused = new Promise<never>((_, reject) => {
    refuseDatabase = reject;
  });
  databaseRefused.catch(() => {}); // nobody may be waiting
  const unlessRefused = <T>(wait: Promise<T>) => Promise.race([wait, databaseRefused]);
  const waitReady = (client: RedisClient, ms: number, signal?: AbortSignal) => {
    let waiter = readyWaiters.get(client);
    if (!waiter) {
      waiter = createEventWaiter(client, 'ready', () => notReady(client));
      readyWaiters.set(client, waiter);
    }
    return waiter(ms, signal);
  };
  const notReady = (client: RedisClient) => {
    const last = lastErrors.get(client);
    return `redis at ${withDatabase(where, client)} not ready (status ${client.status}${last ? `; last error: ${last}` : ''})`;
  };
  // A ping or a ready (a health check, the bot's start) is not kept waiting through a connection
  // error: the client's next one ends the wait at once, so the wait can be given a deadline long
  // enough for a slow start (a cluster's slots on a busy machine) and still report a refused server
  // promptly.
  // The error ends the wait itself (its deadline's timer too: left running, it kept a closed
  // connector's process up until the deadline).
  // A client that ends ends the wait too (no error comes any more), at once and with its timer:
  // the connector's close fails it (E_REDIS_CLOSED); a client its owner disconnected (the bus
  // drops a hung blocking connection for a new one) is no longer waited for.
  const readyOrFailed = (client: RedisClient, ms: number) => {
    const failed = new AbortController();
    // (runs after the client's own listener, which has recorded this error as the last one)
    const onError = () => failed.abort(new Error(notReady(client)));
    const onEnd = () => failed.abort(closer.closed ? closedError() : CLIENT_ENDED);
    client.once('error', onError);
    client.once('end', onEnd);
    if (client.status === 'end') onEnd();
    return waitReady(client, ms, failed.signal)
      .catch((error: unknown) => {
        if (error !== CLIENT_ENDED) throw error;
      })
      .finally(() => {
        client.off('error', onError);
        client.off('end', onEnd);
      });
  };
  const closedError = () =>
    new DianaError(REDIS_ERROR_CODES.CLOSED, `redis at ${where}: the connector was closed`, { context: { where } });
  const assertOpen = () => {
    if (closer.closed) throw closedError();
  };

  const make = (extra: RedisOptions, name: string): RedisClient => {
    // a client made after close would never be closed (close() is done): it would keep the process up
    assertOpen();
    const settings: RedisOptions = {
      ...options.options,
      ...extra,
      lazyConnect: false,
      // on close the socket is destroyed at once: ioredis's default keeps it (and the process) up
      // to 2 s waiting for the server to end it, which a blocked read does only when its block ends
      disconnectTimeout: 0,
      retryStrategy: redisRetryDelay,
    };
    let client: RedisClient;
    if (seeds) {
      client = new Cluster(seeds.nodes, clusterSettings(settings, seeds.options));
      if (settings.enableOfflineQueue === false) queueOnlyWhileReady(client);
      client.on('+node', limitCommandsNotHandshake);
    } else {
      // one server's client resubscribes from its own list (see subscriptions.ts), not ioredis's
      const single = { ...settings, autoResubscribe: false };
      const redis = socket
        ? new Redis({ ...single, ...socket })
        : options.url
          ? new Redis(options.url, single)
          : new Redis(single);
      limitCommandsNotHandshake(redis);
      resubscribeOnReady(redis, (error, kind) => {
        if (redis.status !== 'end')
          logger.warn(
            { err: error, client: name, kind },
            'redis resubscribe failed; tried again at the next reconnect',
          );
      });
      client = redis;
    }
    client.on('error', (error) => {
      lastErrors.set(client, error.message);
      logger.debug({ err: error, client: name }, 'redis connection error');
      if (error.message.includes('DB index is out of range')) {
        // (only one server's client selects a database: a cluster has database 0 alone)
        const db = (client as Redis).options.db;
        logger.error(
          { err: error, client: name, db },
          `redis at ${where} refused database ${db} of its URL; client closed`,
        );
        client.disconnect();
        refuseDatabase(
          new DianaError(
            REDIS_ERROR_CODES.DATABASE_REFUSED,
            `redis at ${where} refused database ${db} of its URL: ${error.message}`,
            { cause: error, context: { where, db } },
          ),
        );
      }
    });
    client.on('ready', () => lastErrors.delete(client));
    endWhenDisconnected(client);
    open.add(client);
    client.once('end', () => open.delete(client));
    return client;
  };

  const command = (clientOptions: RedisCommandClientOptions = {}) =>
    make(
      {
        enableOfflineQueue: false,
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: clientOptions.max_retries_per_request ?? 0,
        commandTimeout: clientOptions.command_timeout_ms ?? 5_000,
      },
      clientOptions.name ?? 'command',
    );

  const closer = createCloser(async () => {
    const clients = [...open];
    open.clear();
    await Promise.all(clients.map((client) => quitWithin(client, closeTimeout)));
  });

  return {
    command,
    blocking: (clientOptions = {}) =>
      make({ enableOfflineQueue: true, maxRetriesPerRequest: null }, clientOptions.name ?? 'blocking'),
    async ping({ timeout_ms = 1_000 } = {}) {
      assertOpen();
      // each call's own deadline over its whole wait (ready, then PING): the client is shared by
      // every ping, whatever deadline each one gives
      pingClient ??= command({ name: 'ping' });
      const client = pingClient;
      const started = performance.now();
      if (client.status !== 'ready') await unlessRefused(readyOrFailed(client, timeout_ms));
      const ping = new Command('ping', []);
      // set before sending: the client's own command time limit then leaves it alone
      ping.setTimeout(Math.max(1, Math.round(timeout_ms - (performance.now() - started))));
      client.sendCommand(ping);
      await ping.promise;
      return performance.now() - started;
    },
    async ready({ timeout_ms = 5_000 } = {}) {
      assertOpen();
      const waiting = [...open].filter((client) => client.status !== 'ready');
      await unlessRefused(Promise.all(waiting.map((client) => readyOrFailed(client, timeout_ms))));
    },
    where,
    cluster: seeds !== undefined,
    close(closeOptions = {}) {
      if (!closer.closed && closeOptions.timeout_ms !== undefined) closeTimeout = closeOptions.timeout_ms;
      return closer.close();
    },
    [Symbol.asyncDispose]: () => closer.close(),
  };
}

/** Why a wait for one client ended: its owner disconnected it (the connector is still open). */
const CLIENT_ENDED = Symbol('client ended');

/**
 * QUIT (pending replies arrive first), or a hard disconnect when Redis does not answer in time.
 * For a client that is not connected, a disconnect at once. Resolves once the client has ended.
 */
export async function quitWithin(client: RedisClient, timeout_ms: number): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  const within = (work: Promise<unknown>, ms: number) =>
    Promise.race([
      work,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]).finally(() => clearTimeout(timer));
  // (a Cluster may read `close` again after it has ended: its last node connections closing)
  let hasEnded = false;
  const ended = new Promise<void>((resolve) =>
    client.once('end', () => {
      hasEnded = true;
      resolve();
    }),
  );
  if (client.status === 'ready')
    await within(
      client.quit().catch(() => {}),
      timeout_ms,
    );
  // (status read afresh: the QUIT above may have ended the client meanwhile)
  if (!hasEnded && statusOf(client) !== 'end') client.disconnect();
  // the socket closes on the next turns of the event loop: resolve once it has
  await within(ended, 1_000);
}

function statusOf(client: RedisClient): string {
  return client.status;
}

/**
 * The connector's settings carried over to a `Cluster`. Each node connection gets the client's
 * settings (time limit, no resend of a command whose reply was lost); the cluster itself
 * follows them: no offline queue for a command client, and a command whose connection closed
 * is not sent again on another node (`retryDelayOnFailover` 0) — it might have run. Server
 * refusals that prove a command did not run (`MOVED`, `ASK`, `TRYAGAIN`, `CLUSTERDOWN`) are
 * followed, at most `maxRedirections` times. Losing every node reconnects on `redisRetryDelay`.
 */
function clusterSettings(settings: RedisOptions, fromSeeds: RedisOptions): ClusterOptions {
  const { enableOfflineQueue, retryStrategy: _ignored, host: _host, port: _port, ...node } = settings;
  const waits = enableOfflineQueue !== false;
  return {
    lazyConnect: false,
    enableOfflineQueue: waits,
    clusterRetryStrategy: redisRetryDelay,
    // a command client fails fast on a closed connection; a blocking one waits for the failover
    retryDelayOnFailover: waits ? REDIS_RETRY_STEP_MS * 2 : 0,
    retryDelayOnClusterDown: REDIS_RETRY_STEP_MS * 2,
    retryDelayOnTryAgain: REDIS_RETRY_STEP_MS * 2,
    maxRedirections: 16,
    // a promoted replica is found by the next MOVED, or by this refresh at the latest
    slotsRefreshInterval: 2_000,
    slotsRefreshTimeout: 1_000,
    ...(settings.keyPrefix ? { keyPrefix: settings.keyPrefix } : {}),
    redisOptions: { ...fromSeeds, ...node },
  };
}

/**
 * A fail-fast `Cluster`: while it is not ready, a command fails at once (as on one server).
 * While it is ready, a command for a node whose connection is still being made — every node's
 * connection is opened by its first command, so a burst right after start or a failover meets
 * one — waits in that node's queue, bounded by the command time limit, instead of failing with
 * "Connection is closed." (what ioredis does to it without an offline queue). ioredis reads the
 * option at each command, so it follows the cluster's state.
 */
function queueOnlyWhileReady(client: Cluster): void {
  const settings = client.options;
  settings.enableOfflineQueue = false;
  client.on('ready', () => {
    settings.enableOfflineQueue = true;
  });
  for (const status of ['connecting', 'connect', 'reconnecting', 'disconnecting', 'close', 'end']) {
    client.on(status, () => {
      settings.enableOfflineQueue = false;
    });
  }
}

/**
 * ioredis reads a TCP URL's path as its database number: `redis://h:6379/x` connected and sent
 * `SELECT NaN`, which the server refused with a reply error that ended the process. Refused here
 * instead, naming the shape (not the URL: it may hold a password).
 */
function checkDatabasePath(url: string): void {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return; // not a URL at all: ioredis says so as it always has
  }
  if (!/^\/?(\d{1,5})?$/.test(path))
    throw new DianaError(
      ERROR_CODES.VALIDATION,
      "redis: a URL's path is its database number (redis://host:6379/2); this one's path is not a number",
    );
}

function describe(options: RedisConnectorOptions): string {
  if (options.cluster) {
    const { nodes } = clusterSeeds(options.cluster.nodes);
    return `redis-cluster://${nodes.map((n) => `${n.host}:${n.port}`).join(',')}`;
  }
  // ioredis's own form of a socket: a bare path, with or without `?db=N`
  if (options.url?.startsWith('/')) return `unix://${options.url.split('?')[0]}`;
  if (options.url) {
    try {
      const url = new URL(options.url);
      return `${url.protocol}//${url.host}`;
    } catch {
      return 'redis (unparsable url)';
    }
  }
  return `redis://${options.options?.host ?? '127.0.0.1'}:${options.options?.port ?? 6379}`;
}

/** `where` with the client's database when it is not 0: `redis://h:6379/12`, `unix:///r.sock?db=12`. */
function withDatabase(where: string, client: RedisClient): string {
  const db = isCluster(client) ? 0 : Number(client.options.db ?? 0);
  if (!db) return where;
  return where.startsWith('unix://') ? `${where}?db=${db}` : `${where}/${db}`;
}

/** True for a `Cluster` client (the connector was given cluster nodes). */
export function isCluster(client: RedisClient): client is Cluster {
  return client instanceof Cluster;
}

/**
 * The connections that hold every key: the client itself for one server, each master's
 * connection for a cluster (for SCAN, which walks one node's keys). Send them single-key
 * commands only; a cluster's list is as of its last slot refresh.
 */
export function mastersOf(client: RedisClient): Redis[] {
  return isCluster(client) ? client.nodes('master') : [client];
}
