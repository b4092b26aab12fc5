// The load driver: simulated Telegram users sending webhook updates round-robin to the bots,
// each user one update at a time, retrying (same update_id) on anything but 2xx as Telegram does.
// Like Telegram, it delivers over at most `max_connections` simultaneous connections (the Bot
// API's default, 40, which the bots leave as is), kept alive; an update waits in its queue for a
// free one. It posts with node:http rather than fetch, which cost the harness as much CPU as a bot.
import { Agent, request } from 'node:http';
import type { FakeTelegram } from '@diana/test-services';

/** setWebhook's max_connections when not given: Telegram's simultaneous deliveries to one webhook. */
export const MAX_CONNECTIONS = 40;
const agent = new Agent({ keepAlive: true });

/** POST `body` to a bot's /telegram: its status and body, or a rejection naming what failed ('timeout' after `timeout_ms`, or the socket error's code). */
function post(port: number, body: string, secret: string, timeout_ms = 4_000) {
  return new Promise<{ status: number; body: string }>((resolve, reject) => {
    const fail = (outcome: string) => {
      clearTimeout(timer);
      reject(new Error(outcome));
    };
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/telegram',
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          'x-telegram-bot-api-secret-token': secret,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          clearTimeout(timer);
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
        });
        res.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.name));
      },
    );
    // a late answer or error after this changes nothing (a promise settles once)
    const timer = setTimeout(() => {
      reject(new Error('timeout'));
      req.destroy();
    }, timeout_ms);
    req.on('error', (error: NodeJS.ErrnoException) => fail(error.code ?? error.name));
    req.end(body);
  });
}

export interface Sent {
  readonly update_id: number;
  readonly kind: string;
  /** The user (chat) it came from. */
  readonly from: number;
  /** When it was first posted (the clock of the fake Bot API's `at`). */
  readonly started: number;
  finished?: number;
  attempts: number;
  status?: number;
  /** When each failed attempt ended and how: an HTTP status, 'timeout' (4 s) or the network error's code. */
  readonly failures: Array<{ at: number; outcome: string }>;
  /** Time spent waiting for a free connection, over all attempts (ms). */
  waited: number;
}

export interface DriverOptions {
  readonly ports: () => readonly number[];
  readonly secret: string;
  readonly fake: FakeTelegram;
  /** Signs a react button for a channel post (the bots' callback secret). */
  readonly reactData: (post: string) => string;
}

export function createDriver(options: DriverOptions) {
  const sent: Sent[] = [];
  let updateId = 100_000;
  let next = 0;
  const keyboards = new Map<number, string[]>(); // chat → callback data of its last keyboard
  const blocked = new Set<number>();
  let scanned = 0;
  /** Learns keyboards and 403s from what the bots sent since the last scan. */
  const scan = () => {
    const calls = options.fake.calls;
    for (; scanned < calls.length; scanned++) {
      const call = calls[scanned];
      if (!call) continue;
      const chat = call.payload.chat_id;
      if (typeof chat !== 'number') continue;
      if (call.status === 403) blocked.add(chat);
      const rows = (
        call.payload.reply_markup as { inline_keyboard?: Array<Array<{ callback_data?: string }>> } | undefined
      )?.inline_keyboard;
      if (call.method === 'sendMessage' && rows?.length)
        keyboards.set(
          chat,
          rows
            .flat()
            .map((b) => b.callback_data ?? '')
            .filter(Boolean),
        );
    }
  };

  // the connections in use; updates waiting for one, first come first served
  let open = 0;
  const queue: Array<() => void> = [];
  const connection = (): Promise<void> => {
    if (open >= MAX_CONNECTIONS) return new Promise((resolve) => queue.push(resolve));
    open += 1;
    return Promise.resolve();
  };
  const free = () => {
    const waiter = queue.shift();
    if (waiter) waiter();
    else open -= 1;
  };

  /** Posts `update` until a bot answers 2xx (up to ~60 s), rotating over the bots. */
  async function deliver(update: Record<string, unknown>, kind: string, from: number): Promise<Sent> {
    const record: Sent = {
      update_id: update.update_id as number,
      kind,
      from,
      started: performance.now(),
      attempts: 0,
      failures: [],
      waited: 0,
    };
    sent.push(record);
    const body = JSON.stringify(update);
    const deadline = Date.now() + 60_000;
    let delay = 100;
    while (Date.now() < deadline) {
      const asked = performance.now();
      await connection();
      record.waited += performance.now() - asked;
      const ports = options.ports();
      const port = ports[next++ % ports.length];
      record.attempts++;
      try {
        const res = await post(port as number, body, options.secret).finally(free);
        record.status = res.status;
        if (res.status >= 200 && res.status < 300) {
          record.finished = performance.now();
          return record;
        }
        record.failures.push({ at: performance.now(), outcome: String(res.status) });
      } catch (error) {
        record.status = 0;
        record.failures.push({ at: performance.now(), outcome: (error as Error).message });
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 2_000);
    }
    return record;
  }

  const from = (tg: number) => ({ id: tg, is_bot: false, first_name: `Usuario ${tg}`, language_code: 'es' });
  const chat = (tg: number) => ({ id: tg, type: 'private', first_name: `Usuario ${tg}` });
  const message = (tg: number, text: string) => {
    const command = text.startsWith('/') ? (text.split(' ')[0] ?? '').length : 0;
    return {
      update_id: ++updateId,
      message: {
        message_id: updateId,
        date: Math.floor(Date.now() / 1000),
        chat: chat(tg),
        from: from(tg),
        text,
        ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command }] } : {}),
      },
    };
  };
  const press = (tg: number, data: string) => ({
    update_id: ++updateId,
    callback_query: {
      id: String(updateId),
      from: from(tg),
      chat_instance: 'sys',
      data,
      message: { message_id: 1, date: 0, chat: chat(tg) },
    },
  });

  return {
    sent,
    blocked,
    scan,
    keyboardOf: (tg: number) => keyboards.get(tg) ?? [],
    text: (tg: number, text: string, kind = 'text') => deliver(message(tg, text), kind, tg),
    press: (tg: number, data: string, kind = 'press') => deliver(press(tg, data), kind, tg),
    react: (tg: number, post: string) => deliver(press(tg, options.reactData(post)), 'react', tg),
    /** A raw body (malformed input checks), to one bot. */
    raw: (port: number, body: string, secret = options.secret) => post(port, body, secret),
    nextUpdateId: () => ++updateId,
  };
}
