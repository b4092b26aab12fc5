// A fake Bot API on loopback for bot tests: records every call, answers like Telegram, and
// can be told to answer 403 for some chats, 429 (with retry_after) once or at a random rate,
// hold a reply, or hand out updates to long polling.
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeCall {
  readonly method: string;
  readonly payload: Record<string, unknown>;
  /** performance.now() when the call arrived. */
  readonly at: number;
  /** The status it was answered with. */
  status?: number;
}

/** Options of `startFakeTelegram`. */
export interface FakeTelegramOptions {
  /** Share of sends (0–1) answered 429 with `retry_after` 1, like a busy Telegram. */
  readonly too_many_requests_rate?: number;
}

export interface FakeTelegram {
  readonly url: string;
  readonly calls: FakeCall[];
  /** Chats that "blocked the bot": every send to them gets 403. */
  readonly blocked: Set<number>;
  /** The next call of `method` (to `chat_id`, if given) gets 429 with `retry_after` seconds. */
  tooManyRequestsOnce(method: string, retry_after: number, chat_id?: number): void;
  /** Replies to `method` wait until the returned function is called. */
  hold(method: string): () => void;
  /** Every call of `method` is answered `error_code` (with `description`) until the returned function is called. */
  refuse(method: string, error_code: number, description: string): () => void;
  /** Hands `update` to the next getUpdates (long polling). */
  queueUpdate(update: Record<string, unknown>): void;
  /** Resolves with the first call of `method` (that `matches`, if given) once it arrives, or at once if it has. */
  waitFor(method: string, timeout_ms?: number, matches?: (call: FakeCall) => boolean): Promise<FakeCall>;
  close(): Promise<void>;
}

/** Starts the fake on a free loopback port; its `url` is the `apiRoot` of a grammY bot. */
export async function startFakeTelegram(options: FakeTelegramOptions = {}): Promise<FakeTelegram> {
  const calls: FakeCall[] = [];
  const blocked = new Set<number>();
  const throttled = new Map<string, { retry_after: number; chat_id?: number | undefined }>();
  const held = new Map<string, Promise<void>>();
  const refused = new Map<string, { error_code: number; description: string }>();
  const waiters: Array<{ method: string; matches: (call: FakeCall) => boolean; resolve: (call: FakeCall) => void }> =
    [];
  let messageId = 0;
  const queued: Array<Record<string, unknown>> = [];
  const server: Server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const method = (req.url ?? '').split('/').at(-1) ?? '';
    const payload = body ? (JSON.parse(body) as Record<string, unknown>) : {};
    const call: FakeCall = { method, payload, at: performance.now() };
    calls.push(call);
    for (const waiter of waiters.filter((w) => w.method === method && w.matches(call))) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve(call);
    }
    const reply = (status: number, json: unknown) => {
      call.status = status;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(json));
    };
    await held.get(method);
    const refusal = refused.get(method);
    if (refusal) return reply(refusal.error_code, { ok: false, ...refusal });
    const random = method.startsWith('send') && Math.random() < (options.too_many_requests_rate ?? 0) ? 1 : undefined;
    const armed = throttled.get(method);
    const hit = armed && (armed.chat_id === undefined || armed.chat_id === payload.chat_id) ? armed : undefined;
    const retry = hit?.retry_after ?? random;
    if (retry !== undefined) {
      if (hit) throttled.delete(method);
      return reply(429, {
        ok: false,
        error_code: 429,
        description: `Too Many Requests: retry after ${retry}`,
        parameters: { retry_after: retry },
      });
    }
    if (typeof payload.chat_id === 'number' && blocked.has(payload.chat_id))
      return reply(403, { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' });
    if (method === 'getUpdates') {
      // long polling: what is queued after the offset, else an empty answer after a short wait
      const offset = Number(payload.offset ?? 0);
      const ready = () => queued.filter((u) => Number(u.update_id) >= offset);
      if (ready().length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
      return reply(200, { ok: true, result: ready() });
    }
    if (method === 'getMe')
      return reply(200, { ok: true, result: { id: 1, is_bot: true, first_name: 'Diana', username: 'diana_test_bot' } });
    if (method === 'sendMessage')
      return reply(200, {
        ok: true,
        result: {
          message_id: ++messageId,
          date: Math.floor(Date.now() / 1000),
          chat: { id: payload.chat_id, type: 'private' },
          text: payload.text,
        },
      });
    reply(200, { ok: true, result: true });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls,
    blocked,
    tooManyRequestsOnce: (method, retry_after, chat_id) => void throttled.set(method, { retry_after, chat_id }),
    queueUpdate: (update) => void queued.push(update),
    refuse(method, error_code, description) {
      refused.set(method, { error_code, description });
      return () => void refused.delete(method);
    },
    hold(method) {
      let release: () => void = () => {};
      held.set(
        method,
        new Promise<void>((resolve) => {
          release = resolve;
        }),
      );
      return () => {
        held.delete(method);
        release();
      };
    },
    waitFor(method, timeout_ms = 10_000, matches = () => true) {
      const seen = calls.find((c) => c.method === method && matches(c));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${method} within ${timeout_ms} ms`)), timeout_ms);
        waiters.push({
          method,
          matches,
          resolve: (call) => {
            clearTimeout(timer);
            resolve(call);
          },
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
