// The HTTP server's edges: who may read /readyz and /metrics, the webhook's body limit and secret, and a
// readiness check that runs at most once a second however often it is asked.
import { request } from 'node:http';
import { loadSettings } from '@diana/config';
import { captureLogLines, FAKE_BOT_INFO } from '@diana/test-services';
import { createLogger, DianaError } from '@diana/utils';
import { Bot } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { loadAppSettings, SETTINGS_SCHEMAS } from '../src/config.js';
import { BOT_ERROR_CODES } from '../src/errors.js';
import { type HttpServer, startHttp } from '../src/http.js';

const SECRET = 'http-test-webhook-secret-0123456789';
let checks = 0;
const bot = new Bot('123:http', { botInfo: FAKE_BOT_INFO });
// a message "hang" runs until the test lets it go (a query that never settles)
let letGo = () => {};
const held = new Promise<void>((resolve) => {
  letGo = resolve;
});
bot.on('message', async (ctx) => {
  if (ctx.message.text === 'hang') await held;
  // what escapes the app's error boundary (here there is none)
  if (ctx.message.text === 'fail') throw new Error('boom');
  if (ctx.message.text === 'elsewhere')
    throw new DianaError(BOT_ERROR_CODES.UPDATE_IN_PROGRESS, 'update 6 is being handled by another process');
});
// only what the server touches: the bot (webhook) and checkReady
const app = {
  bot,
  checkReady: async () => {
    checks++;
    return [];
  },
} as unknown as App;
let server: HttpServer | undefined;
afterEach(async () => {
  await server?.close({ timeout_ms: 1_000 });
  server = undefined;
});

/** What loading these settings throws (undefined when they load). */
function settingsError(env: Record<string, string>) {
  try {
    loadAppSettings(env, { env_file: false });
  } catch (error) {
    return error as Error & { code?: string };
  }
  return undefined;
}

/** A request from `localAddress` (127.0.0.2 stands for a client that is not this host's loopback peer). */
const call = (
  port: number,
  path: string,
  init: { method?: string; body?: string; localAddress?: string; headers?: Record<string, string> } = {},
) =>
  new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: init.method ?? 'GET',
        localAddress: init.localAddress,
        headers: init.headers,
      },
      (res) => {
        let text = '';
        res.on('data', (chunk) => {
          text += chunk;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      },
    );
    req.on('error', reject);
    req.end(init.body);
  });

describe('HTTP', () => {
  it('serves /readyz and /metrics to loopback clients only; /healthz to anyone', async () => {
    server = await startHttp({ app, starting: '' }, { port: 0, host: '127.0.0.1' });
    expect((await call(server.port, '/readyz')).status).toBe(200);
    expect(await call(server.port, '/readyz', { localAddress: '127.0.0.2' })).toEqual({
      status: 403,
      text: 'forbidden\n',
    });
    expect((await call(server.port, '/metrics', { localAddress: '127.0.0.2' })).status).toBe(403);
    expect((await call(server.port, '/healthz', { localAddress: '127.0.0.2' })).status).toBe(200);
  });

  it('with an ops listener, /readyz and /metrics live there and not on the main port', async () => {
    server = await startHttp(
      { app, starting: '' },
      { port: 0, host: '127.0.0.1', ops: { port: 0, host: '127.0.0.1' } },
    );
    const opsPort = server.ops_port as number;
    expect(opsPort).toBeGreaterThan(0);
    expect((await call(opsPort, '/readyz', { localAddress: '127.0.0.2' })).status).toBe(200);
    expect((await call(opsPort, '/healthz')).status).toBe(200);
    expect((await call(server.port, '/readyz')).status).toBe(404);
  });

  it('checks readiness at most once a second', async () => {
    server = await startHttp({ app, starting: '' }, { port: 0, host: '127.0.0.1' });
    const before = checks;
    await Promise.all(Array.from({ length: 20 }, () => call(server?.port as number, '/readyz')));
    expect(checks - before).toBe(1);
  });

  it('refuses a webhook body over the limit (413) or without a length (411) before reading it', async () => {
    server = await startHttp(
      { app, starting: '' },
      { port: 0, host: '127.0.0.1', webhook_secret: SECRET, webhook_max_body_bytes: 1_024 },
    );
    const headers = { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET };
    const big = JSON.stringify({ update_id: 1, message: { text: 'x'.repeat(2_000) } });
    expect((await call(server.port, '/telegram', { method: 'POST', body: big, headers })).status).toBe(413);
    const chunked = await call(server.port, '/telegram', {
      method: 'POST',
      body: '{}',
      headers: { ...headers, 'transfer-encoding': 'chunked' },
    });
    expect(chunked.status).toBe(411);
    const small = JSON.stringify({ update_id: 2 });
    expect((await call(server.port, '/telegram', { method: 'POST', body: small, headers })).status).toBe(200);
  });

  it('a webhook body that is not JSON is answered 400 and said at warn (was a silent 500)', async () => {
    const { destination, lines } = captureLogLines();
    server = await startHttp(
      { app, starting: '' },
      { port: 0, host: '127.0.0.1', webhook_secret: SECRET, logger: createLogger({ destination }) },
    );
    const headers = { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET };
    const answer = await call(server.port, '/telegram', { method: 'POST', body: '{"update_id": 3,', headers });
    expect(answer.status).toBe(400);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([['warn', 'webhook body is not JSON; answered 400']]);
  });

  it('a webhook body that is JSON but not an update (null, 42, [], no update_id) is answered 400 and said at warn', async () => {
    const { destination, lines } = captureLogLines();
    server = await startHttp(
      { app, starting: '' },
      { port: 0, host: '127.0.0.1', webhook_secret: SECRET, logger: createLogger({ destination }) },
    );
    const headers = { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET };
    // before: null answered a silent 500 (Telegram would send it again), the others 200 and dropped
    const bodies = ['null', '42', '[]', '"x"', '{}', '{"update_id":"7"}'];
    const statuses: number[] = [];
    for (const body of bodies)
      statuses.push((await call(server.port, '/telegram', { method: 'POST', body, headers })).status);
    expect(statuses).toEqual(bodies.map(() => 400));
    expect(lines.map((l) => [l.level, l.msg])).toEqual(
      bodies.map(() => [
        'warn',
        'webhook body is not a Telegram update (a JSON object with a numeric update_id); answered 400',
      ]),
    );
    // an update still goes through
    const update = JSON.stringify({ update_id: 8 });
    expect((await call(server.port, '/telegram', { method: 'POST', body: update, headers })).status).toBe(200);
  });

  it('an update past the webhook timeout is answered 500 and said at warn (grammY says it only to its debug channel); a failure at error', async () => {
    const { destination, lines } = captureLogLines();
    server = await startHttp(
      { app, starting: '' },
      {
        port: 0,
        host: '127.0.0.1',
        webhook_secret: SECRET,
        webhook_timeout_ms: 200,
        logger: createLogger({ destination }),
      },
    );
    const headers = { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET };
    const update = (update_id: number, text: string) =>
      JSON.stringify({
        update_id,
        message: { message_id: 1, date: 0, chat: { id: 5, type: 'private', first_name: 'U' }, text },
      });
    try {
      expect((await call(server.port, '/telegram', { method: 'POST', body: update(3, 'hang'), headers })).status).toBe(
        500,
      );
      expect(lines.map((l) => [l.level, l.msg, l.timeout_ms])).toEqual([
        ['warn', 'webhook update ran past its time; answered 500 (Telegram sends it again)', 200],
      ]);
      // an update in time: 200, nothing said
      expect((await call(server.port, '/telegram', { method: 'POST', body: update(4, 'hola'), headers })).status).toBe(
        200,
      );
      expect(lines).toHaveLength(1);
      // a handler's failure that reaches the server: 500 and an error line (it was silent);
      // an update held by another process: 500, said by the dedupe, not again here
      expect((await call(server.port, '/telegram', { method: 'POST', body: update(5, 'fail'), headers })).status).toBe(
        500,
      );
      expect(
        (await call(server.port, '/telegram', { method: 'POST', body: update(6, 'elsewhere'), headers })).status,
      ).toBe(500);
      expect(lines.slice(1).map((l) => [l.level, l.msg, (l.err as { message?: string } | undefined)?.message])).toEqual(
        [['error', 'webhook update failed; answered 500 (Telegram sends it again)', 'boom']],
      );
    } finally {
      letGo();
    }
  });

  it('refuses a webhook secret shorter than 32 characters, naming the variable', () => {
    expect(() =>
      loadSettings(SETTINGS_SCHEMAS, { DIANA_BOT_WEBHOOK_SECRET: 'short-secret' }, { env_file: false }),
    ).toThrow(/DIANA_BOT_WEBHOOK_SECRET/);
  });

  it('refuses a webhook secret Telegram would refuse (other characters, over 256) when settings load, not at the first request', async () => {
    const base64 = 'c2VjcmV0LXdpdGgtcGx1cytzbGFzaC9hbmQtZXF1YWxzPQ=='; // 48 characters, + / =
    for (const bad of [base64, 'a'.repeat(257)]) {
      const error = settingsError({ DIANA_BOT_WEBHOOK_SECRET: bad });
      expect(error?.code).toBe('E_CONFIG_SETTINGS_INVALID');
      expect(error?.message).toContain('DIANA_BOT_WEBHOOK_SECRET');
      expect(error?.message).toContain('32–256 characters of [A-Za-z0-9_-]');
      expect(error?.message).not.toContain(bad.slice(0, 16)); // the value stays hidden
    }
    // the server, handed one anyway, does not start (before: it threw inside the first request's listener)
    await expect(
      startHttp({ app, starting: '' }, { port: 0, host: '127.0.0.1', webhook_secret: base64 }),
    ).rejects.toThrow(/webhook_secret|E_SECURITY_CONFIG/);
    expect(() => loadAppSettings({ DIANA_BOT_WEBHOOK_SECRET: 'A-z_9'.repeat(51) }, { env_file: false })).not.toThrow();
  });

  it('refuses a webhook URL without its secret (Telegram would post updates the server does not serve) or its token', () => {
    const env = {
      DIANA_BOT_TELEGRAM_BOT_TOKEN: '123456:http-test',
      DIANA_BOT_WEBHOOK_URL: 'https://bot.example/telegram',
    };
    const error = settingsError(env);
    expect(error?.code).toBe('E_CONFIG_SETTINGS_INVALID');
    expect(error?.message).toContain('DIANA_BOT_WEBHOOK_SECRET: is required with DIANA_BOT_WEBHOOK_URL');
    // and without a token it would have opened the console chat (an empty input: exit 0, silently)
    const both = settingsError({ DIANA_BOT_WEBHOOK_URL: env.DIANA_BOT_WEBHOOK_URL });
    expect(both?.message).toMatch(/^invalid settings \(2\): /);
    expect(both?.message).toContain('DIANA_BOT_TELEGRAM_BOT_TOKEN: is required with DIANA_BOT_WEBHOOK_URL');
    expect(loadAppSettings({ ...env, DIANA_BOT_WEBHOOK_SECRET: SECRET }, { env_file: false }).bot.webhook_url).toBe(
      env.DIANA_BOT_WEBHOOK_URL,
    );
  });
});
