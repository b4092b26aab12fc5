// The chat queue: one queue per user (a press by who pressed it, not by the channel the post is
// in), at most 3 of a user's updates in the bot, a dropped update told to its user.
import { createBarrier, createRecordingApi, createUpdateFactory, FAKE_BOT_INFO } from '@diana/test-services';
import { Api, Bot, Context } from 'grammy';
import type { Update } from 'grammy/types';
import { describe, expect, it } from 'vitest';
import { chatQueue, queueKey } from '../src/chat-queue.js';
import { TEXTS } from '../src/texts.js';

const updates = createUpdateFactory(40_000);
const CHANNEL = { id: -100_777, type: 'channel', title: 'Canal' };
/** User `tg` pressing `data` under a post of the channel (the press's chat is the channel's). */
const pressInChannel = (tg: number, data: string) => {
  const update = updates.press(tg, data);
  return {
    ...update,
    callback_query: { ...update.callback_query, message: { message_id: 1, date: 0, chat: CHANNEL } },
  };
};

/** A bot with only the chat queue, whose handler `hold`s each update; records what ran and what Telegram was asked. */
function queuedBot(hold: (ctx: Context) => Promise<void>, onDrop?: () => void) {
  const api = createRecordingApi();
  const bot = new Bot('0:test', { botInfo: FAKE_BOT_INFO });
  bot.api.config.use(api.transformer as never);
  bot.use(chatQueue(onDrop ? { onDrop } : {}));
  const handled: Array<{ from: number; data: string | undefined }> = [];
  let running = 0;
  const stats = { most: 0 };
  bot.use(async (ctx) => {
    running++;
    stats.most = Math.max(stats.most, running);
    try {
      await hold(ctx);
      handled.push({ from: ctx.from?.id ?? 0, data: ctx.callbackQuery?.data ?? ctx.message?.text });
    } finally {
      running--;
    }
  });
  return { bot, api, handled, stats };
}

/** Every caller waits for all of them, then they hand their update to the bot at once. */
const atOnce = async (bot: Bot, batch: object[]) => {
  const start = createBarrier(batch.length);
  await Promise.all(
    batch.map(async (update) => {
      await start.wait();
      await bot.handleUpdate(update as Update);
    }),
  );
};

describe('chatQueue', () => {
  it("six users pressing a channel post's button at once: six queues, all six run (before, one queue of 3)", async () => {
    // each press waits inside the handler until all six are there: they run side by side
    const inside = createBarrier(6);
    const { bot, handled, stats } = queuedBot(() => inside.wait());
    const users = [1, 2, 3, 4, 5, 6];
    await atOnce(
      bot,
      users.map((u) => pressInChannel(u, 'react')),
    );
    expect(stats.most).toBe(6); // contention: all six in the bot at once
    expect(handled.map((h) => h.from).sort()).toEqual(users);
  });

  it("one user's burst of presses cannot push out another's: the burst's excess is dropped and told", async () => {
    // the attacker's first press holds the handler until the excess is dropped and the victim's ran
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let drops = 0;
    const { bot, api, handled } = queuedBot(
      async (ctx) => {
        if (ctx.from?.id === 10) await released;
        else release();
      },
      () => {
        drops++;
      },
    );
    await atOnce(bot, [
      pressInChannel(10, 'x'),
      pressInChannel(10, 'y'),
      pressInChannel(10, 'z'),
      pressInChannel(10, 'w'),
      pressInChannel(11, 'react'),
    ]);
    expect(drops).toBe(1);
    expect(handled).toContainEqual({ from: 11, data: 'react' });
    expect(handled.filter((h) => h.from === 10).map((h) => h.data)).toEqual(['x', 'y', 'z']);
    // the dropped press was answered with words, not an empty answer
    expect(api.calls.filter((c) => c.method === 'answerCallbackQuery').map((c) => c.payload.text)).toEqual([
      TEXTS.busy,
    ]);
  });

  it('a flood of messages in a private chat: 3 run in order, the rest dropped, the user told once', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let drops = 0;
    const { bot, api, handled } = queuedBot(
      () => released,
      () => {
        if (++drops === 3) release();
      },
    );
    await atOnce(
      bot,
      ['1', '2', '3', '4', '5', '6'].map((text) => updates.message(20, text)),
    );
    expect(drops).toBe(3);
    expect(handled.map((h) => h.data)).toEqual(['1', '2', '3']);
    expect(api.calls.map((c) => [c.method, c.payload.chat_id, c.payload.text])).toEqual([
      ['sendMessage', 20, TEXTS.busy],
    ]);
  });

  it("a private chat's messages and presses share the user's one queue (kept in order)", () => {
    const key = (update: object) => queueKey(new Context(update as Update, new Api('0:test'), FAKE_BOT_INFO));
    expect(key(updates.message(30, 'hola'))).toBe('30');
    expect(key(updates.press(30, 'x'))).toBe('30');
    expect(key(pressInChannel(30, 'x'))).toBe('30');
  });
});
