import { type Closeable, createCloser, createEventWaiter, getPackageLogger, type Logger } from '@diana/utils';
import { Redis, type RedisOptions } from 'ioredis';

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
  /** `redis://…` or `rediss://…`; merged under `options`. */
  readonly url?: string;
  /** ioredis options (host, port, password, tls, keyPrefix, …); retry and queue settings are the connector's. */
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
  command(options?: RedisCommandClientOptions): Redis;
  /**
   * A client for blocking reads and subscriptions (XREADGROUP BLOCK, SUBSCRIBE): its commands
   * wait for the connection (offline queue on, no per-request retry limit), so a subscription
   * or a read loop comes back by itself after a reconnect.
   */
  blocking(options?: { readonly name?: string }): Redis;
  /** One PING on the connector's own command client; rejects after `timeout_ms`. Resolves to the round trip in ms. */
  ping(options?: { readonly timeout_ms?: number }): Promise<number>;
  /** Where clients connect (no credentials), for logs. */
  readonly where: string;
  /** Closes every client this connector made that is still open: QUIT, then a hard disconnect after `timeout_ms`. */
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
}

/**
 * The fail-fast Redis setup, once. Nothing connects until a client is asked for; each client
 * is its own connection (a blocking read must never hold up a command).
 */
export function createRedisConnector(options: RedisConnectorOptions = {}): RedisConnector {
  const logger = getPackageLogger(options.logger, 'redis');
  const open = new Set<Redis>();
  let closeTimeout = 1_000;
  let pingClient: Redis | undefined;

  const make = (extra: RedisOptions, name: string): Redis => {
    const settings: RedisOptions = {
      ...options.options,
      ...extra,
      lazyConnect: false,
      // on close the socket is destroyed at once: ioredis's default keeps it (and the process) up
      // to 2 s waiting for the server to end it, which a blocked read does only when its block ends
      disconnectTimeout: 0,
      retryStrategy: redisRetryDelay,
    };
    const client = options.url ? new Redis(options.url, settings) : new Redis(settings);
    client.on('error', (error) => logger.debug({ err: error, client: name }, 'redis connection error'));
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
      pingClient ??= command({ command_timeout_ms: timeout_ms, name: 'ping' });
      const client = pingClient;
      const started = performance.now();
      if (client.status !== 'ready') {
        await createEventWaiter(client, 'ready', () => `redis not ready (status ${client.status})`)(timeout_ms);
      }
      await client.ping();
      return performance.now() - started;
    },
    where: describe(options),
    close(closeOptions = {}) {
      if (!closer.closed && closeOptions.timeout_ms !== undefined) closeTimeout = closeOptions.timeout_ms;
      return closer.close();
    },
    [Symbol.asyncDispose]: () => closer.close(),
  };
}

/**
 * QUIT (pending replies arrive first), or a hard disconnect when Redis does not answer in time.
 * For a client that is not connected, a disconnect at once. Resolves once the client has ended.
 */
export async function quitWithin(client: Redis, timeout_ms: number): Promise<void> {
  if (client.status === 'end') return;
  let timer: NodeJS.Timeout | undefined;
  const within = (work: Promise<unknown>, ms: number) =>
    Promise.race([
      work,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, ms);
      }),
    ]).finally(() => clearTimeout(timer));
  const ended = new Promise<void>((resolve) => client.once('end', () => resolve()));
  if (client.status === 'ready')
    await within(
      client.quit().catch(() => {}),
      timeout_ms,
    );
  // (status read afresh: the QUIT above may have ended the client meanwhile)
  if (statusOf(client) !== 'end') client.disconnect();
  // the socket closes on the next turns of the event loop: resolve once it has
  await within(ended, 1_000);
}

function statusOf(client: Redis): string {
  return client.status;
}

function describe(options: RedisConnectorOptions): string {
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
