// One HTTP server: /healthz (alive), /readyz (every dependency answers), /metrics
// (Prometheus), and in webhook mode POST /telegram (secret checked before the body is read).
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

export async function startHttp(
  app: App,
  options: { port: number; metrics?: AppMetrics; webhook_secret?: string; host?: string },
): Promise<HttpServer> {
  const webhook = options.webhook_secret
    ? guardWebhook(
        { webhook_secret: options.webhook_secret },
        webhookCallback(app.bot, 'http', { timeoutMilliseconds: 50_000 }),
      )
    : undefined;
  const send = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8' });
    res.end(body);
  };
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'GET' && path === '/healthz') return send(res, 200, 'ok\n');
    if (req.method === 'GET' && path === '/readyz') {
      void app
        .checkReady()
        .then((failing) =>
          failing.length === 0 ? send(res, 200, 'ready\n') : send(res, 503, `not ready: ${failing.join(', ')}\n`),
        );
      return;
    }
    if (req.method === 'GET' && path === '/metrics' && options.metrics) return options.metrics.handle(req, res);
    if (req.method === 'POST' && path === '/telegram' && webhook) return webhook(req, res);
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
