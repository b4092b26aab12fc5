// One HTTP server: /healthz (alive), /readyz (every dependency answers), /metrics
// (Prometheus), and in webhook mode POST /telegram (secret checked before the body is read).
// It starts before the app: /healthz answers from the first second, /readyz says what start
// is waiting for, and updates that arrive before the app is up get 503 (Telegram redelivers).
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { guardWebhook } from '@diana/security';
import { isDianaError, type Logger } from '@diana/utils';
import { BotError, webhookCallback } from 'grammy';
import type { App } from './app.js';
import { BOT_ERROR_CODES } from './errors.js';
import type { AppMetrics } from './metrics.js';
import { NotAnUpdateError, updateAdapter } from './webhook-update.js';

/** What the server serves: the app once started, and meanwhile what start is waiting for. */
export interface HttpTarget {
  readonly app: App | undefined;
  /** Shown by /readyz while `app` is undefined (e.g. "waiting for postgres"). */
  readonly starting: string;
}

/** Options of `startHttp`. */
export interface HttpOptions {
  readonly port: number;
  /** @default '0.0.0.0' */
  readonly host?: string;
  readonly metrics?: AppMetrics;
  /** Set in webhook mode: POST /telegram is served. */
  readonly webhook_secret?: string;
  /** How long a webhook update may run before it is answered 500 (Telegram sends it again). @default 50 s */
  readonly webhook_timeout_ms?: number;
  /** Where an update that runs past `webhook_timeout_ms` is said. */
  readonly logger?: Logger;
  /** A webhook body larger than this is refused with 413 before it is read. @default 1 MiB */
  readonly webhook_max_body_bytes?: number;
  /**
   * Where /readyz and /metrics are served. Unset: on the main server, to loopback clients only
   * (403 to anyone else). Set: on their own listener (with /healthz), and not on the main one.
   */
  readonly ops?: { readonly port: number; readonly host: string };
}

/** A running HTTP server (and its ops listener, if separate). */
export interface HttpServer {
  readonly port: number;
  /** The ops listener's port, when it is separate. */
  readonly ops_port: number | undefined;
  /** Stops accepting; requests in progress (a webhook update mid-handler) finish until `timeout_ms` (default 5 s). */
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
}

const READINESS_CACHE_MS = 1_000;
const LOOPBACK = new Set(['127.0.0.1', '::1', '::ffff:127.0.0.1']);

/** Listens on `port` (and the ops port); rejects if a port cannot be bound (e.g. `EADDRINUSE`). */
export async function startHttp(target: HttpTarget, options: HttpOptions): Promise<HttpServer> {
  // The guard is made before the server listens: a secret it refuses fails the start, not the
  // first request. grammY's callback is made once the app (and its bot) exists.
  let callback: ((req: IncomingMessage, res: ServerResponse) => unknown) | undefined;
  // Telegram waits about a minute for an answer
  const webhookTimeout = options.webhook_timeout_ms ?? 50_000;
  const webhook = options.webhook_secret
    ? guardWebhook({ webhook_secret: options.webhook_secret }, (req, res) => {
        callback ??= webhookCallback((target.app as App).bot, updateAdapter, { timeoutMilliseconds: webhookTimeout });
        // grammY rejects an update that runs past its time (the guard answers 500) and says so only
        // to its debug channel: a query that never settled showed nowhere at info
        return Promise.resolve(callback(req, res)).catch((error: unknown) => {
          // a body that is not JSON never came from Telegram (it would send it again on a 500)
          // nor one that is JSON but not an update (null, 42, []): before, null was a silent 500
          // and the others a 200 dropped without a word
          if ((error instanceof SyntaxError || error instanceof NotAnUpdateError) && !res.headersSent) {
            options.logger?.warn(
              { err: error },
              error instanceof SyntaxError
                ? 'webhook body is not JSON; answered 400'
                : 'webhook body is not a Telegram update (a JSON object with a numeric update_id); answered 400',
            );
            res.writeHead(400, { 'content-type': 'text/plain' });
            res.end('bad request');
            return;
          }
          const cause = error instanceof BotError ? error.error : error;
          if (/timed out/.test(String((error as Error)?.message)))
            options.logger?.warn(
              { timeout_ms: webhookTimeout },
              'webhook update ran past its time; answered 500 (Telegram sends it again)',
            );
          // held by another process: the dedupe said so at info. Anything else that escaped the
          // bot's error boundary (the dedupe's own failure, a stop under way) was a silent 500
          else if (!isDianaError(cause, BOT_ERROR_CODES.UPDATE_IN_PROGRESS))
            options.logger?.error({ err: cause }, 'webhook update failed; answered 500 (Telegram sends it again)');
          throw error;
        });
      })
    : undefined;
  const maxBody = options.webhook_max_body_bytes ?? 1_048_576;
  // one readiness check per second at most, however often probes and scrapers ask
  let readiness: { at: number; failing: Promise<string[]> } | undefined;
  const checkReady = (app: App) => {
    if (!readiness || Date.now() - readiness.at > READINESS_CACHE_MS)
      readiness = { at: Date.now(), failing: app.checkReady() };
    return readiness.failing;
  };
  const send = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(body);
  };
  const ops = (req: IncomingMessage, res: ServerResponse, path: string | undefined): boolean => {
    if (req.method !== 'GET' || (path !== '/readyz' && path !== '/metrics')) return false;
    const app = target.app;
    if (path === '/metrics') {
      if (options.metrics) options.metrics.handle(req, res);
      else send(res, 404, 'not found\n');
    } else if (!app) send(res, 503, `not ready: starting (${target.starting})\n`);
    else
      void checkReady(app).then((failing) =>
        failing.length === 0 ? send(res, 200, 'ready\n') : send(res, 503, `not ready: ${failing.join(', ')}\n`),
      );
    return true;
  };
  const main: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, 'ok\n');
    if (!options.ops && (path === '/readyz' || path === '/metrics')) {
      if (!LOOPBACK.has(req.socket.remoteAddress ?? '')) return send(res, 403, 'forbidden\n');
      if (ops(req, res, path)) return;
    }
    if (req.method === 'POST' && path === '/telegram' && options.webhook_secret) {
      const length = Number(req.headers['content-length']);
      if (!Number.isSafeInteger(length)) return send(res, 411, 'length required\n');
      if (length > maxBody) return send(res, 413, 'payload too large\n');
      if (!target.app) return send(res, 503, 'starting\n');
      return webhook?.(req, res);
    }
    send(res, 404, 'not found\n');
  });
  const opsServer = options.ops
    ? createServer((req: IncomingMessage, res: ServerResponse) => {
        const path = (req.url ?? '/').split('?')[0];
        if (req.method === 'GET' && path === '/healthz') return send(res, 200, 'ok\n');
        if (!ops(req, res, path)) send(res, 404, 'not found\n');
      })
    : undefined;
  main.listen(options.port, options.host ?? '0.0.0.0');
  await once(main, 'listening');
  if (opsServer && options.ops) {
    opsServer.listen(options.ops.port, options.ops.host);
    await once(opsServer, 'listening').catch((error: unknown) => {
      main.close();
      throw error;
    });
  }
  return {
    port: (main.address() as AddressInfo).port,
    ops_port: opsServer ? (opsServer.address() as AddressInfo).port : undefined,
    close: async ({ timeout_ms = 5_000 } = {}) => {
      await Promise.all([main, opsServer].map((server) => (server ? closeServer(server, timeout_ms) : undefined)));
    },
  };
}

function closeServer(server: Server, timeout_ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), timeout_ms);
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}
