// Telegram realities on the way out: a user who blocked the bot is marked and not written to
// again (until they write to us); 429s are retried after the time Telegram gives
// (@grammyjs/auto-retry); sends are throttled to Telegram's limits (@grammyjs/transformer-throttler).
import type { UserRepository } from '@diana/db';
import type { Logger } from '@diana/utils';
import type { Transformer } from 'grammy';

/** Telegram ids known to have blocked the bot, with the transformer that maintains them. */
export function createBlockedUsers(users: UserRepository, logger: Logger) {
  const blocked = new Set<number>();
  const transformer: Transformer = async (prev, method, payload, signal) => {
    const chatId = (payload as { chat_id?: unknown } | undefined)?.chat_id;
    const target = typeof chatId === 'number' && chatId > 0 ? chatId : undefined;
    if (target !== undefined && blocked.has(target))
      return { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user (known; not sent)' };
    const result = await prev(method, payload, signal);
    if (
      !result.ok &&
      result.error_code === 403 &&
      target !== undefined &&
      /blocked|deactivated/i.test(result.description)
    ) {
      blocked.add(target);
      const user = await users.getByTelegramId(target);
      if (user && user.status !== 'blocked') await users.setStatus(user.id, 'blocked');
      logger.info({ telegram_id: target, method }, 'user blocked the bot; no more sends');
    }
    return result;
  };
  return {
    transformer,
    unblock: (telegramId: number) => blocked.delete(telegramId),
    has: (id: number) => blocked.has(id),
  };
}
