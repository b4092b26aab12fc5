import { once } from 'node:events';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { checkWebhookSecret, guardWebhook, WEBHOOK_SECRET_HEADER } from '../src/webhook.js';

const SECRET = 'wh_Secret-123';
const bodies: string[] = [];
const server = createServer(
  guardWebhook({ webhook_secret: SECRET }, async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    bodies.push(body);
    res.end('ok');
  }),
);
server.listen(0, '127.0.0.1');
await once(server, 'listening');
const { port } = server.address() as AddressInfo;
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

/**
 * Sends the headers, then waits for an answer before sending the body: a 401 that arrives
 * while the body is still unsent proves the server did not wait for (or read) it.
 */
function post(headers: Record<string, string>): Promise<{ status: number; bodySent: boolean }> {
  return new Promise((resolve, reject) => {
    let bodySent = false;
    const body = JSON.stringify({ update_id: 1, message: { text: 'x'.repeat(1_000) } });
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: '/telegram',
        headers: { ...headers, 'content-length': body.length },
      },
      (res) => {
        res.resume();
        resolve({ status: res.statusCode ?? 0, bodySent });
      },
    );
    req.on('error', reject);
    req.flushHeaders();
    // the body goes only if no answer came within 300 ms
    setTimeout(() => {
      bodySent = true;
      req.end(body);
    }, 300);
  });
}

describe('the webhook secret', () => {
  it('answers 401 to a wrong or missing secret before the body is sent, and never calls the handler', async () => {
    expect(await post({ [WEBHOOK_SECRET_HEADER]: 'wrong' })).toEqual({ status: 401, bodySent: false });
    expect(await post({})).toEqual({ status: 401, bodySent: false });
    expect(await post({ [WEBHOOK_SECRET_HEADER]: `${SECRET}x` })).toEqual({ status: 401, bodySent: false });
    expect(bodies).toEqual([]);
  });

  it('passes the request with the right secret to the handler', async () => {
    expect(await post({ [WEBHOOK_SECRET_HEADER]: SECRET })).toEqual({ status: 200, bodySent: true });
    expect(bodies).toHaveLength(1);
  });

  it('answers 500 when the handler fails, and keeps serving', async () => {
    const failing = createServer(
      guardWebhook({ webhook_secret: SECRET }, async () => {
        throw new Error('handler failed');
      }),
    );
    failing.listen(0, '127.0.0.1');
    await once(failing, 'listening');
    const url = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/telegram`;
    const post = () => fetch(url, { method: 'POST', headers: { [WEBHOOK_SECRET_HEADER]: SECRET }, body: '{}' });
    expect((await post()).status).toBe(500);
    expect((await post()).status).toBe(500); // still alive
    await new Promise<void>((resolve) => failing.close(() => resolve()));
  });

  it('compares exactly, whatever the lengths', () => {
    expect(checkWebhookSecret({ [WEBHOOK_SECRET_HEADER]: SECRET }, SECRET)).toBe(true);
    expect(checkWebhookSecret({ [WEBHOOK_SECRET_HEADER]: SECRET.slice(0, -1) }, SECRET)).toBe(false);
    expect(checkWebhookSecret({}, SECRET)).toBe(false);
    expect(() => guardWebhook({}, () => {})).toThrow(/webhook_secret/);
    expect(() => guardWebhook({ webhook_secret: 'bad secret!' }, () => {})).toThrow(
      /E_SECURITY_CONFIG|invalid security config/,
    );
    // Telegram's own bounds: 256 characters of A-Z a-z 0-9 _ -
    expect(() => guardWebhook({ webhook_secret: 'a'.repeat(256) }, () => {})).not.toThrow();
    expect(() => guardWebhook({ webhook_secret: 'a'.repeat(257) }, () => {})).toThrow(/E_SECURITY_CONFIG|invalid/);
    expect(() => guardWebhook({ webhook_secret: 'abc+def/ghi=' }, () => {})).toThrow(/E_SECURITY_CONFIG|invalid/);
  });
});
