// Telegram realities on the way out: a user who blocked the bot is marked and not written to
// again (until they write to us); 429s are retried after the time Telegram gives
// (@grammyjs/auto-retry); sends are throttled to Telegram's limits (@grammyjs/transformer-throttler).
import type { CacheService } from '@diana/cache';
import type { UserRepository } from '@diana/db';
import type { Logger } from '@diana/utils';
import { apiThrottler } from '@grammyjs/transformer-throttler';
import type { Transformer } from 'grammy';
import type { createTelegramMetrics } from './metrics.js';

/**
 * Sends to one private chat: a burst of 3 at once, then one a second. Telegram asks for no more
 * than one message a second in a chat and allows short bursts over it (its bot FAQ); the
 * throttler's default spaced every send a full second, so a reply written right after a
 * notification (a decision's reward, say) waited a second behind it. Groups and channels keep
 * the throttler's own limits (20 a minute), and every send still passes the global 30 a second.
 */
export const PRIVATE_CHAT_SENDS = { burst: 3, per_second: 1 } as const;

/** Telegram's send limits for this process (per private chat, per group, global). */
export function telegramThrottler(): Transformer {
  return apiThrottler({
    out: {
      maxConcurrent: 1,
      reservoir: PRIVATE_CHAT_SENDS.burst,
      reservoirIncreaseAmount: PRIVATE_CHAT_SENDS.per_second,
      reservoirIncreaseInterval: 1_000,
      reservoirIncreaseMaximum: PRIVATE_CHAT_SENDS.burst,
      // each chat's limiter refills on a timer of its own: check twice a second, and drop a chat's
      // limiter after 10 s without sends (its burst has refilled by then; the default kept 5 min)
      heartbeatInterval: 500,
      timeout: 10_000,
    },
  }) as Transformer;
}

/** How long a 403 mark is kept without news from the user (their row says `blocked` for good). */
const BLOCKED_MARK_TTL_MS = 30 * 24 * 3_600_000;
/** How long "not blocked" is remembered (a mark set meanwhile drops it in every process at once). */
const NOT_BLOCKED_TTL_MS = 10 * 60_000;

/**
 * Telegram ids known to have blocked the bot, shared by every bot process through the cache
 * (`marks`, a namespace of the Redis-backed cache): the process that meets the 403 marks the
 * user, and every process reads the mark before each send to a private chat, so no bot writes to
 * them again. A user who writes again is unmarked (the invalidation reaches every process).
 * With Redis unreachable the cache degrades to this process's memory.
 */
export function createBlockedUsers(users: UserRepository, logger: Logger, marks: CacheService) {
  const key = (telegramId: number) => `tg:${telegramId}`;
  // The answer is kept in this process's memory (`local`: 10 min for "not blocked"), so the
  // check before each send and each update is answered from memory; a mark or an unblock in any
  // process sends a notice that drops every copy. On first sight it costs one Redis read (the
  // mark, if any process set one), not a shared fill's five round trips (read, lease, read
  // again, write, release) to store a `false` every process can work out alike. A read racing a
  // mark set elsewhere may keep `false` here for a while: the next send then gets Telegram's 403
  // again, which marks the user again.
  const has = async (telegramId: number) =>
    await marks.getOrSet<boolean>(key(telegramId), async () => (await marks.get<boolean>(key(telegramId))) === true, {
      ttl_ms: NOT_BLOCKED_TTL_MS,
      local: true,
    });
  const transformer: Transformer = async (prev, method, payload, signal) => {
    const chatId = (payload as { chat_id?: unknown } | undefined)?.chat_id;
    const target = typeof chatId === 'number' && chatId > 0 ? chatId : undefined;
    if (target !== undefined && (await has(target)))
      return { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user (known; not sent)' };
    const result = await prev(method, payload, signal);
    if (
      !result.ok &&
      result.error_code === 403 &&
      target !== undefined &&
      /blocked|deactivated/i.test(result.description)
    ) {
      await block(target);
      logger.info({ telegram_id: target, method }, 'user blocked the bot; no more sends');
    }
    return result;
  };
  /** Marks the user blocked: the shared mark, and their row's status (a user never seen has none). */
  const block = async (telegramId: number) => {
    await marks.set(key(telegramId), true, { ttl_ms: BLOCKED_MARK_TTL_MS });
    const user = await users.getByTelegramId(telegramId);
    if (user && user.status !== 'blocked') await users.setStatus(user.id, 'blocked');
  };
  return {
    transformer,
    /** Telegram told us the user blocked the bot (a 403, or their `my_chat_member` update). */
    block,
    /** The user wrote to us: every process may send to them again. */
    unblock: (telegramId: number) => marks.delete(key(telegramId)),
    has,
  };
}

/**
 * Counts each Bot API call as it goes to Telegram (installed nearest the network, so every
 * retry of auto-retry and every 429 and 403 Telegram answers is seen once).
 */
export function countTelegramCalls(metrics: ReturnType<typeof createTelegramMetrics>): Transformer {
  return async (prev, method, payload, signal) => {
    const started = performance.now();
    try {
      const result = await prev(method, payload, signal);
      metrics.record(method, (performance.now() - started) / 1_000, result.ok ? undefined : result.error_code);
      return result;
    } catch (error) {
      metrics.record(method, (performance.now() - started) / 1_000, 0);
      throw error;
    }
  };
}
