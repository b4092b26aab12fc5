// One HTTP server: /healthz (alive), /readyz (every dependency answers), /metrics
// (Prometheus), and in webhook mode POST /telegram (secret checked before the body is read).
// It starts before the app: /healthz answers from the first second, /readyz says what start
// is waiting for, and updates that arrive before the app is up get 503 (Telegram redelivers).
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { guardWebhook } from '@diana/security';
import { webhookCallback } from 'grammy';
import type { App } from './app.js';
import type { AppMetrics } from './metrics.js';

export interface HttpServer {
  readonly port: number;
  close(timeout_ms?: number): Promise<void>;
}

/** What the server serves: the app once started, and meanwhile what start is waiting for. */
export interface HttpTarget {
  readonly app: App | undefined;
  /** Shown by /readyz while `app` is undefined (e.g. "waiting for postgres"). */
  readonly starting: string;
}

/** Listens on `port`; rejects if the port cannot be bound (e.g. `EADDRINUSE`). */
export async function startHttp(
  target: HttpTarget,
  options: { port: number; metrics?: AppMetrics; webhook_secret?: string; host?: string },
): Promise<HttpServer> {
  let webhook: ((req: IncomingMessage, res: ServerResponse) => unknown) | undefined;
  const getWebhook = (app: App) => {
    if (!options.webhook_secret) return undefined;
    webhook ??= guardWebhook(
      { webhook_secret: options.webhook_secret },
      webhookCallback(app.bot, 'http', { timeoutMilliseconds: 50_000 }),
    );
    return webhook;
  };
  const send = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(body);
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, 'ok\n');
    const app = target.app;
    if (req.method === 'GET' && path === '/readyz') {
      if (!app) return send(res, 503, `not ready: starting (${target.starting})\n`);
      void app
        .checkReady()
        .then((failing) =>
          failing.length === 0 ? send(res, 200, 'ready\n') : send(res, 503, `not ready: ${failing.join(', ')}\n`),
        );
      return;
    }
    if (req.method === 'GET' && path === '/metrics' && options.metrics) return options.metrics.handle(req, res);
    if (req.method === 'POST' && path === '/telegram' && options.webhook_secret) {
      if (!app) return send(res, 503, 'starting\n');
      return getWebhook(app)?.(req, res);
    }
    send(res, 404, 'not found\n');
  });
  server.listen(options.port, options.host ?? '0.0.0.0');
  await once(server, 'listening');
  return {
    port: (server.address() as AddressInfo).port,
    /** Stops accepting; requests in progress (a webhook update mid-handler) finish until `timeout_ms`. */
    close: (timeout_ms = 5_000) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), timeout_ms);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      }),
  };
}
