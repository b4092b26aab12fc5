// One chat must not stall the others: updates of different chats run concurrently (the runner
// in long polling, concurrent requests in webhook mode), updates of one chat run in order
// (`sequentialize`), and a chat may have only a few updates waiting; the rest are dropped
// (a flood is answered by what already runs, never queued behind Telegram's 1 message/s per chat).
//
// A queue belongs to one user, never to a chat many users share: a button press is queued by who
// pressed it, not by the message's chat. Presses of a channel post's react button come from the
// channel's chat; queued by the channel, six users pressing at once shared one queue of 3 (three
// reactions dropped without a word) and one user's burst pushed out everyone else's press. In a
// private chat the chat is the user, so its updates (messages and presses) keep one queue, in order.
import { sequentialize } from '@grammyjs/runner';
import { Composer, type Context, type MiddlewareFn } from 'grammy';
import { TEXTS } from './texts.js';

/** Updates of one user in the bot at once (running and waiting) before more are dropped. */
export const DEFAULT_CHAT_QUEUE = 3;

/** The queue of an update: its sender for a button press, its chat otherwise (the sender when it has none). */
export const queueKey = (ctx: Context): string | undefined => {
  const id = ctx.callbackQuery ? ctx.from?.id : (ctx.chat?.id ?? ctx.from?.id);
  return id === undefined ? undefined : String(id);
};

/**
 * Drops an update when its user already has `max_pending` in the bot, then runs the rest of the
 * user's updates one at a time in arrival order. A dropped update is never silent: a button
 * press is answered with `TEXTS.busy` (the client shows it), a message gets it once per burst
 * (once until the user's queue empties: a flood gets one line, not one per message).
 */
export function chatQueue<C extends Context>(options: {
  max_pending?: number;
  onDrop?: (ctx: C) => void;
}): MiddlewareFn<C> {
  const max = options.max_pending ?? DEFAULT_CHAT_QUEUE;
  const pending = new Map<string, number>();
  const told = new Set<string>();
  const bound: MiddlewareFn<C> = async (ctx, next) => {
    const key = queueKey(ctx);
    if (key === undefined) return next();
    const count = pending.get(key) ?? 0;
    if (count >= max) {
      options.onDrop?.(ctx);
      if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text: TEXTS.busy }).catch(() => {});
      else if (ctx.chat?.type === 'private' && !told.has(key)) {
        told.add(key);
        await ctx.reply(TEXTS.busy).catch(() => {});
      }
      return;
    }
    pending.set(key, count + 1);
    try {
      await next();
    } finally {
      const left = (pending.get(key) ?? 1) - 1;
      if (left === 0) {
        pending.delete(key);
        told.delete(key);
      } else pending.set(key, left);
    }
  };
  return new Composer<C>(bound, sequentialize<C>(queueKey)).middleware();
}
