// The load driver: simulated Telegram users sending webhook updates round-robin to the bots,
// each user one update at a time, retrying (same update_id) on anything but 2xx as Telegram does.
import type { FakeTelegram } from '@diana/test-services';

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

  /** Posts `update` until a bot answers 2xx (up to ~60 s), rotating over the bots. */
  async function deliver(update: Record<string, unknown>, kind: string, from: number): Promise<Sent> {
    const record: Sent = {
      update_id: update.update_id as number,
      kind,
      from,
      started: performance.now(),
      attempts: 0,
    };
    sent.push(record);
    const body = JSON.stringify(update);
    const deadline = Date.now() + 60_000;
    let delay = 100;
    while (Date.now() < deadline) {
      const ports = options.ports();
      const port = ports[next++ % ports.length];
      record.attempts++;
      try {
        const res = await fetch(`http://127.0.0.1:${port}/telegram`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': options.secret },
          body,
          signal: AbortSignal.timeout(4_000),
        });
        await res.arrayBuffer();
        record.status = res.status;
        if (res.ok) {
          record.finished = performance.now();
          return record;
        }
      } catch {
        record.status = 0;
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
    raw: (port: number, body: string, secret = options.secret) =>
      fetch(`http://127.0.0.1:${port}/telegram`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': secret },
        body,
      }).then(async (res) => ({ status: res.status, body: await res.text() })),
    nextUpdateId: () => ++updateId,
  };
}
