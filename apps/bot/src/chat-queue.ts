// One chat must not stall the others: updates of different chats run concurrently (the runner
// in long polling, concurrent requests in webhook mode), updates of one chat run in order
// (`sequentialize`), and a chat may have only a few updates waiting; the rest are dropped
// (a flood is answered by what already runs, never queued behind Telegram's 1 message/s per chat).
import { sequentialize } from '@grammyjs/runner';
import { Composer, type Context, type MiddlewareFn } from 'grammy';

/** Updates of one chat in the bot at once (running and waiting) before more are dropped. */
export const DEFAULT_CHAT_QUEUE = 3;

const chatKey = (ctx: Context) => {
  const id = ctx.chat?.id ?? ctx.from?.id;
  return id === undefined ? undefined : String(id);
};

/**
 * Drops an update when its chat already has `max_pending` in the bot, then runs the rest of
 * the chat's updates one at a time in arrival order. A dropped button press is answered
 * silently so the client stops spinning; a dropped message is not answered at all.
 */
export function chatQueue<C extends Context>(options: {
  max_pending?: number;
  onDrop?: (ctx: C) => void;
}): MiddlewareFn<C> {
  const max = options.max_pending ?? DEFAULT_CHAT_QUEUE;
  const pending = new Map<string, number>();
  const bound: MiddlewareFn<C> = async (ctx, next) => {
    const key = chatKey(ctx);
    if (key === undefined) return next();
    const count = pending.get(key) ?? 0;
    if (count >= max) {
      options.onDrop?.(ctx);
      if (ctx.callbackQuery) await ctx.answerCallbackQuery().catch(() => {});
      return;
    }
    pending.set(key, count + 1);
    try {
      await next();
    } finally {
      const left = (pending.get(key) ?? 1) - 1;
      if (left === 0) pending.delete(key);
      else pending.set(key, left);
    }
  };
  return new Composer<C>(bound, sequentialize<C>(chatKey)).middleware();
}
