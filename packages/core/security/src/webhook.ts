// Telegram's webhook check: every update Telegram posts carries the `secret_token` given to
// setWebhook in `X-Telegram-Bot-Api-Secret-Token`. Checked in constant time, before a byte of
// the body is read, so a stranger can neither forge updates nor make us parse their payloads.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { DianaError, revealSecret } from '@diana/utils';
import { safeEqual } from './callback.js';
import type { SecurityConfigInput } from './config.js';
import { SECURITY_ERROR_CODES } from './errors.js';
import { parseSecurityConfig } from './settings.js';

/** The header Telegram sends the secret in. */
export const WEBHOOK_SECRET_HEADER = 'x-telegram-bot-api-secret-token';

/** True when the request carries `secret` (constant time; a missing or repeated header is false). */
export function checkWebhookSecret(headers: IncomingMessage['headers'], secret: string): boolean {
  const value = headers[WEBHOOK_SECRET_HEADER];
  return typeof value === 'string' && safeEqual(value, secret);
}

/**
 * Wraps a node:http handler (e.g. grammY's `webhookCallback(bot, 'http')`): a request
 * without the right secret is answered 401 and closed without its body being read; the
 * handler never sees it. A handler that throws or rejects is answered 500.
 */
export function guardWebhook(
  config: SecurityConfigInput,
  handler: (req: IncomingMessage, res: ServerResponse) => unknown,
): (req: IncomingMessage, res: ServerResponse) => void {
  const settings = parseSecurityConfig(config);
  if (!settings.webhook_secret)
    throw new DianaError(SECURITY_ERROR_CODES.SECURITY_CONFIG, 'webhook_secret is required to receive webhooks');
  const secret = revealSecret(settings.webhook_secret);
  return (req, res) => {
    if (!checkWebhookSecret(req.headers, secret)) {
      // the body stays unread: the connection is closed after the answer
      res.writeHead(401, { 'content-type': 'text/plain', connection: 'close' });
      res.end('unauthorized');
      return;
    }
    // a handler that fails answers 500 (Telegram retries the update); it never takes the process down
    Promise.resolve()
      .then(() => handler(req, res))
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        if (!res.writableEnded) res.end('error');
      });
  };
}
