// Buttons pressed outside a private chat, the whole app on real PostgreSQL and Redis (Telegram
// replaced by the fake Bot API): a channel post's react button pressed by many users at once
// counts every reaction (the chat queue is per user, not per channel); any other button pressed in
// a group or a channel (a message forwarded there) is answered with an alert only, never a message.
import { loadSettings } from '@diana/config';
import {
  createBarrier,
  createUpdateFactory,
  startFakeTelegram,
  useTempDir,
  useTestDatabase,
  useTestRedis,
} from '@diana/test-services';
import { SILENT_LOGGER } from '@diana/utils';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp } from '../src/app.js';
import { SETTINGS_SCHEMAS } from '../src/config.js';
import { TEXTS } from '../src/texts.js';
import { redisKeyPrefixes } from './child-bot.js';
import { isNotice } from './notices.js';

const testDb = await useTestDatabase('bot-channel-press');
const redis = await useTestRedis('bot-channel-press');
const fake = await startFakeTelegram();
const settings = loadSettings(
  SETTINGS_SCHEMAS,
  {
    DIANA_DATABASE_URL: testDb.url,
    DIANA_DATABASE_DIRECT_URL: testDb.direct_url,
    DIANA_REDIS_URL: redis.url,
    ...redisKeyPrefixes(redis.prefix),
    DIANA_BOT_TELEGRAM_BOT_TOKEN: '123456:channel-press-token',
    DIANA_BOT_TELEGRAM_API_ROOT: fake.url,
    DIANA_BOT_DATA_DIR: useTempDir('diana-channel-press-'),
    DIANA_SECURITY_CALLBACK_SECRET: 'x'.repeat(40),
    DIANA_SECURITY_TOKEN_PEPPER: 'y'.repeat(40),
    DIANA_EVENT_BUS_BLOCK_MS: '100',
  },
  { env_file: false },
);
/** While set, each answer to a press waits here: the presses it counts were in the bot together. */
let answersMeet: { wait(): Promise<void> } | undefined;
let app: App;
beforeAll(async () => {
  app = await createApp(settings, {
    logger: SILENT_LOGGER,
    apiTransformer: async (prev, method, payload, signal) => {
      if (method === 'answerCallbackQuery') await answersMeet?.wait();
      return prev(method, payload, signal);
    },
  });
});
afterAll(async () => {
  await app?.close({ timeout_ms: 5_000 });
  await fake.close();
});

const CHANNEL = { id: -1_001_234_567_890, type: 'channel', title: 'Canal' };
const updates = createUpdateFactory(70_000);
const say = (tg: number, text: string) => app.handleUpdate(updates.message(tg, text) as Update);
/** User `tg` pressing `data` under a message of `chat`. */
const pressIn = (tg: number, data: string, chat: Record<string, unknown>) => {
  const update = updates.press(tg, data);
  return {
    ...update,
    callback_query: { ...update.callback_query, message: { message_id: 7, date: 0, chat } },
  } as unknown as Update;
};
/** Every caller waits for all of them, then hands its update to the app at once. */
const atOnce = async (batch: object[]) => {
  const start = createBarrier(batch.length);
  await Promise.all(
    batch.map(async (update) => {
      await start.wait();
      await app.handleUpdate(update as Update);
    }),
  );
};
const sentTo = (chat: number) => fake.calls.filter((c) => c.method === 'sendMessage' && c.payload.chat_id === chat);
/** The buttons of the last message with a keyboard sent to `tg`, by their text. */
const buttonsOf = (tg: number) => {
  const last = sentTo(tg)
    .filter((c) => (c.payload.reply_markup as { inline_keyboard?: unknown[] } | undefined)?.inline_keyboard?.length)
    .at(-1);
  const rows = (
    (last?.payload.reply_markup as { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> })
      ?.inline_keyboard ?? []
  ).flat();
  return new Map(rows.map((b) => [b.text, b.callback_data]));
};
/** What `tg` was answered, without payment notices (they come at their own time, from the bus). */
const repliesTo = (tg: number) => sentTo(tg).filter((c) => !isNotice(c.payload.text));
const reactions = async (post_id: string) => {
  const [row] = await app.db.sql<{ n: number }[]>`
    select count(*)::int as n from gamification_reactions where post_id = ${post_id}`;
  return row?.n;
};

describe('buttons pressed outside a private chat', () => {
  it("six users pressing a channel post's react button at once: six reactions (before, 3 of 6)", async () => {
    const users = [81_001, 81_002, 81_003, 81_004, 81_005, 81_006];
    for (const u of users) await say(u, '/start');
    const data = app.gamification.reactButton('post-A').callback_data;
    const before = fake.calls.length;
    // contention: no press is answered until all six are being answered, so all six ran side by side
    answersMeet = createBarrier(users.length);
    try {
      await atOnce(users.map((u) => pressIn(u, data, CHANNEL)));
    } finally {
      answersMeet = undefined;
    }
    expect(await reactions('post-A')).toBe(users.length);
    const answers = fake.calls.slice(before).filter((c) => c.method === 'answerCallbackQuery');
    expect(answers).toHaveLength(users.length);
    expect(answers.every((a) => typeof a.payload.text === 'string' && a.payload.text !== '')).toBe(true);
  });

  it("one user's burst of presses in the channel cannot push out another user's reaction", async () => {
    const [attacker, victim] = [81_010, 81_011];
    await say(attacker, '/start');
    await say(victim, '/start');
    const data = app.gamification.reactButton('post-B').callback_data;
    const before = fake.calls.length;
    // contention: the attacker's first press and the victim's are answered together (the attacker's
    // others wait behind his first, in his own queue)
    answersMeet = createBarrier(2);
    try {
      await atOnce([
        pressIn(attacker, 'x', CHANNEL),
        pressIn(attacker, 'y', CHANNEL),
        pressIn(attacker, 'z', CHANNEL),
        pressIn(victim, data, CHANNEL),
      ]);
    } finally {
      answersMeet = undefined;
    }
    expect(await reactions('post-B')).toBe(1);
    // every press was answered, none with silence
    const answers = fake.calls.slice(before).filter((c) => c.method === 'answerCallbackQuery');
    expect(answers.map((a) => typeof a.payload.text)).toEqual(['string', 'string', 'string', 'string']);
  });

  it("a user's menu or story button pressed in a group or a channel: an alert to open the private chat, no message there", async () => {
    const user = 81_200;
    await say(user, '/start'); // Lucien's first fragment, with its decision buttons
    const story = [...buttonsOf(user).values()];
    await say(user, '/menu');
    const menu = buttonsOf(user);
    const GROUP = { id: -100_555, type: 'supergroup', title: 'Grupo' };
    const pressed = [menu.get(TEXTS.buttons.saldo as string), menu.get(TEXTS.buttons.historia as string), ...story];
    expect(pressed.length).toBeGreaterThan(2);
    const before = fake.calls.length;
    const toUser = repliesTo(user).length;
    for (const data of pressed) {
      await app.handleUpdate(pressIn(user, data as string, GROUP));
      await app.handleUpdate(pressIn(user, data as string, CHANNEL));
    }
    const calls = fake.calls.slice(before).filter((c) => !isNotice(c.payload.text));
    expect(calls.filter((c) => c.payload.chat_id === GROUP.id || c.payload.chat_id === CHANNEL.id)).toEqual([]);
    // nothing ran: no message anywhere, each press answered with the alert alone
    expect(repliesTo(user).length).toBe(toUser);
    expect(calls.map((c) => [c.method, c.payload.text, c.payload.show_alert])).toEqual(
      pressed.flatMap(() => [
        ['answerCallbackQuery', TEXTS.openInPrivate, true],
        ['answerCallbackQuery', TEXTS.openInPrivate, true],
      ]),
    );
    // the same buttons still work in the user's own chat
    await app.handleUpdate(updates.press(user, menu.get(TEXTS.buttons.saldo as string) as string) as Update);
    expect(repliesTo(user).length).toBe(toUser + 1);
  });
});
