// The app's middleware, in the order the bot runs it (see app.ts).

import type { CacheService } from '@diana/cache';
import type { User, UserRepository } from '@diana/db';
import type { EventBusService } from '@diana/event-bus';
import { oneLine } from '@diana/security';
import type { SecurityFlavor } from '@diana/security/grammy';
import { isDianaError, type Logger } from '@diana/utils';
import { type Context, GrammyError, type MiddlewareFn } from 'grammy';
import { LRUCache } from 'lru-cache';
import type { UpdateDedupe } from './dedupe.js';
import { BOT_ERROR_CODES } from './errors.js';
import type { createBotMetrics } from './metrics.js';
import type { OutageWait } from './outage-wait.js';
import { TEXTS } from './texts.js';

/** What the app's middleware adds to the context. */
export interface AppFlavor {
  /** The `users` row of the sender, refreshed for this update. */
  user?: User;
  /** True on the update that created the user's row: their first words to the bot. */
  firstContact?: boolean;
}
/** The app's context: its own flavor and the signed-callback check's (`verifyCallbacks`). */
export type AppContext = Context & AppFlavor & SecurityFlavor;

const SORRY = 'Algo salió mal. Inténtalo de nuevo en un momento.';

/**
 * Telegram refused a send to this update's own chat with 403: the user blocked the bot (or
 * deleted their account). Their choice, not a failure of the bot: nothing can be told to them.
 */
const refusedByTheUser = (error: unknown, ctx: AppContext) =>
  error instanceof GrammyError &&
  error.error_code === 403 &&
  ctx.chat !== undefined &&
  error.payload.chat_id === ctx.chat.id;

/**
 * Logs any error with the update id, answers the user politely, never lets it escape. An update
 * whose answer the user refused (they blocked the bot) is logged at info and counted as
 * `blocked`, with no apology: it could not reach them either.
 */
/**
 * The `kind` label of `diana.bot.updates`: every outcome of an update is counted under the same
 * kind (a duplicate `/start` was `other`, a dropped one `message`: rates by kind did not add up).
 */
export const updateKind = (ctx: Context): 'callback' | 'command' | 'message' | 'other' =>
  ctx.callbackQuery ? 'callback' : ctx.message?.text?.startsWith('/') ? 'command' : ctx.message ? 'message' : 'other';

export function errorBoundary(logger: Logger, metrics: ReturnType<typeof createBotMetrics>): MiddlewareFn<AppContext> {
  // one debug line per update, built only when someone reads it
  const debug = logger.level === 'debug' || logger.level === 'trace';
  return async (ctx, next) => {
    const started = performance.now();
    const kind = updateKind(ctx);
    // a press can be answered once: one the handler answered before it failed gets the apology
    // as a message instead (Telegram would refuse a second answer, and the user saw nothing)
    let answered = false;
    if (ctx.callbackQuery) {
      const answer = ctx.answerCallbackQuery.bind(ctx);
      ctx.answerCallbackQuery = (...args) => {
        answered = true;
        return answer(...args);
      };
    }
    try {
      await next();
      const ms = performance.now() - started;
      metrics.record(kind, 'ok', ms);
      if (debug)
        logger.debug({ update_id: ctx.update.update_id, kind, ms: Math.round(ms * 10) / 10 }, 'update handled');
    } catch (error) {
      if (refusedByTheUser(error, ctx)) {
        metrics.record(kind, 'blocked', performance.now() - started);
        logger.info(
          { update_id: ctx.update.update_id, kind, method: (error as GrammyError).method },
          'update not answered: the user blocked the bot',
        );
        return;
      }
      metrics.record(kind, 'error', performance.now() - started);
      logger.error({ err: error, update_id: ctx.update.update_id, kind }, 'update failed');
      try {
        if (ctx.callbackQuery) {
          if (!answered) await ctx.answerCallbackQuery({ text: SORRY });
          // as a message in the user's own chat only, never in a channel (a post's button)
          else if (ctx.chat?.type === 'private') await ctx.reply(SORRY);
        } else if (ctx.chat) await ctx.reply(SORRY);
      } catch (replyError) {
        logger.warn({ err: replyError, update_id: ctx.update.update_id }, 'could not tell the user about the failure');
      }
    }
  };
}

/**
 * Handles each `update_id` once (Telegram redelivers webhooks that were not answered in time)
 * without losing any: see dedupe.ts. Runs first, so an update held by another process fails
 * the webhook call (Telegram retries) instead of being answered as handled.
 */
export function dedupeUpdates(
  dedupe: UpdateDedupe,
  metrics: ReturnType<typeof createBotMetrics>,
  logger: Logger,
): MiddlewareFn<AppContext> {
  return async (ctx, next) => {
    const id = ctx.update.update_id;
    let claim: Awaited<ReturnType<UpdateDedupe['claim']>>;
    try {
      claim = await dedupe.claim(id);
    } catch (error) {
      // another process holds it (Telegram delivered it twice at once): the webhook answers 500
      // and Telegram redelivers it later — counted and said, so the 500 can be traced
      if (isDianaError(error, BOT_ERROR_CODES.UPDATE_IN_PROGRESS)) {
        metrics.record(updateKind(ctx), 'in_progress', 0);
        logger.info({ update_id: id }, 'update held by another process; Telegram will deliver it again');
      }
      throw error;
    }
    if (claim === 'done') {
      metrics.record(updateKind(ctx), 'duplicate', 0);
      // said at debug: a redelivery is routine, but a dropped update with no line at all puzzled
      // a stranger whose second test run reused update ids on the same Redis (the dedupe marks
      // live under DIANA_EVENT_BUS_STREAM_PREFIX)
      logger.debug({ update_id: id }, 'update already handled; dropped');
      return;
    }
    try {
      await next();
    } catch (error) {
      await dedupe.release(id);
      throw error;
    }
    await dedupe.done(id);
  };
}

/**
 * The bot talks in private chats only. Messages, commands and member updates from groups,
 * supergroups and channels (channel posts included) stop here without an answer: a reply
 * in a group is noise any member can trigger, and staff replies (VIP links, /config, /stats)
 * must never land where others read them. A button press outside a private chat passes only
 * for the `actions` given (the react button of channel posts: signed, bound to whoever presses
 * it, answered with a callback answer alone); any other — a menu or story button on a message
 * forwarded to a group — is answered with `TEXTS.openInPrivate` as an alert and goes no further
 * (before, it ran, and the balance or a story fragment, VIP ones too, was posted in the group).
 * Updates with no chat (inline queries) pass.
 */
export function privateChatsOnly(actions: readonly string[] = []): MiddlewareFn<AppContext> {
  const outside = new Set(actions);
  return async (ctx, next) => {
    if (ctx.chat === undefined || ctx.chat.type === 'private') return next();
    if (!ctx.callbackQuery) return;
    // the action as written: one that is not what it claims fails the signature check later,
    // answered there with a callback answer too
    if (outside.has(actionOf(ctx.callbackQuery.data ?? ''))) return next();
    await ctx.answerCallbackQuery({ text: TEXTS.openInPrivate, show_alert: true });
  };
}

/**
 * Updates about the user's private chat rather than from them: their block or unblock of the bot
 * (`my_chat_member`) and Telegram Business traffic (a business chat's type is `private` too, but
 * it is another person's chat with the user). A block marks the user blocked (`block`: the row's
 * status and the mark every process reads before a send); an unblock changes nothing until they
 * write. Neither registers anyone nor reaches the modules. Before, a block was taken for the user
 * writing again: a blocked user was made active and unmarked, and one who blocked the bot on first
 * contact was registered and given the welcome gift (so was the other side of a business chat).
 */
export function chatMemberUpdates(block: (telegramId: number) => Promise<void>): MiddlewareFn<AppContext> {
  return async (ctx, next) => {
    const update = ctx.update;
    if (
      update.business_message ||
      update.edited_business_message ||
      update.business_connection ||
      update.deleted_business_messages
    )
      return;
    const member = update.my_chat_member;
    if (!member) return next();
    if (member.chat.type === 'private' && member.new_chat_member.status === 'kicked') await block(member.from.id);
  };
}

/** The action a button's signed data names (`action|args…~signature`), unverified. */
const actionOf = (data: string) => data.slice(0, data.lastIndexOf('~')).split('|')[0] ?? '';

/** How long a user's row may be served from the cache (a role or status change shows within this). */
export const USER_CACHE_TTL_MS = 5_000;
export const userCacheKey = (telegramId: number) => `user:tg:${telegramId}`;

/**
 * The user row's cache options: briefly, in each process's memory only. A row by its key is one
 * PostgreSQL round trip; Redis would add five on each miss (read, lease, read again, write,
 * release). A role or status change (`cache.delete` of the key) still drops every process's copy.
 */
const USER_CACHE = { ttl_ms: USER_CACHE_TTL_MS, local: true } as const;

/** Reads the sender's row (for the BANNED guard and the rate limit, which run before the upsert), cached briefly. */
export function loadUser(users: UserRepository, cache: CacheService, outageWait: OutageWait): MiddlewareFn<AppContext> {
  return async (ctx, next) => {
    const from = ctx.from;
    if (from && !from.is_bot)
      ctx.user =
        (await cache.getOrSet(
          userCacheKey(from.id),
          // PostgreSQL down as the update arrives: a read, so it waits for it (see outage-wait.ts)
          () => outageWait(async () => (await users.getByTelegramId(from.id)) ?? null),
          USER_CACHE,
        )) ?? undefined;
    await next();
  };
}

// The repository refuses a name it cannot store (over 128 UTF-16 units, empty, a NUL) rather
// than cut it. Telegram's limits keep names within that, but a user whose name broke them
// (another Bot API server; a limit counted otherwise) would get an error on every update:
// names are fitted here instead — a lone surrogate made U+FFFD (what PostgreSQL stores for it:
// kept, the stored name never equalled Telegram's again, and every update rewrote the row), put
// on one line (`oneLine`: NULs and other control characters dropped, line breaks made spaces,
// characters that show nothing removed — a name must not fake lines where staff or other users
// read it), cut at 128 units (never inside a surrogate pair), an empty first name shown as
// "usuario <id>".
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;
const fit = (text: string, max: number): string => {
  let out = oneLine(text.replace(LONE_SURROGATE, '\uFFFD'));
  if (out.length > max) out = out.slice(0, /[\uD800-\uDBFF]/.test(out[max - 1] ?? '') ? max - 1 : max);
  return out;
};
const fitOptional = (text: string | undefined, max: number): string | null => {
  const out = text === undefined ? '' : fit(text, max);
  return out === '' ? null : out;
};

/** What the repository stores of Telegram's `from`. */
interface StorableUser {
  readonly id: number;
  readonly first_name: string;
  readonly last_name: string | null;
  readonly username: string | null;
  readonly language_code: string | null;
}

/** Telegram's `from` fitted to the repository's limits. */
export function storableUser(from: NonNullable<AppContext['from']>): StorableUser {
  return {
    id: from.id,
    first_name: fit(from.first_name ?? '', 128) || `usuario ${from.id}`,
    last_name: fitOptional(from.last_name, 128),
    username: fitOptional(from.username, 64),
    language_code: fitOptional(from.language_code, 16),
  };
}

/**
 * Creates the user on first sight in their private chat (publishing `user.registered` through
 * the outbox in the same transaction; a press in a channel registers nobody, so no welcome
 * bonus for whoever sees a channel post) or refreshes names when they changed (no write on the usual update); owners
 * get OWNER; a blocked user who writes again is active again; `last_seen_at` is written at
 * most every 5 minutes per user.
 */
export function upsertUser(deps: {
  db: import('@diana/db').Database;
  users: UserRepository;
  bus: EventBusService;
  owners: readonly number[];
  unblock: (telegramId: number) => Promise<unknown>;
  isBlocked: (telegramId: number) => Promise<boolean>;
  cache: CacheService;
  /** Waits out PostgreSQL down around the upsert (safe again: see outage-wait.ts). */
  outageWait: OutageWait;
}): MiddlewareFn<AppContext> {
  const seen = new LRUCache<string, number>({ max: 100_000 });
  // the row loadUser found needs no write when nothing Telegram sent has changed
  const current = (user: User | undefined, from: StorableUser): user is User =>
    user !== undefined &&
    user.status === 'active' &&
    user.first_name === from.first_name &&
    user.last_name === from.last_name &&
    user.username === from.username &&
    user.language_code === from.language_code &&
    (user.role === 'OWNER' || !deps.owners.includes(from.id));
  return async (ctx, next) => {
    // outside their private chat a user is only read (loadUser): not created, not unblocked
    if (!ctx.from || ctx.from.is_bot || ctx.chat?.type !== 'private') return next();
    const from = storableUser(ctx.from);
    const marked = await deps.isBlocked(from.id);
    const { user, created } =
      !marked && current(ctx.user, from)
        ? { user: ctx.user, created: false }
        : await deps.outageWait(() =>
            deps.db.transaction(async () => {
              const result = await deps.users.upsertFromTelegram(from);
              // joins this transaction (the bus was created with deps.db): in the outbox, sent once committed
              if (result.created)
                await deps.bus.publish(
                  'user.registered',
                  { user_id: result.user.id, telegram_id: from.id, language_code: from.language_code },
                  { key: result.user.id, user_id: result.user.id },
                );
              let row = result.user;
              if (deps.owners.includes(from.id) && row.role !== 'OWNER')
                row = await deps.users.setRole(row.id, 'OWNER');
              if (row.status === 'blocked') row = await deps.users.setStatus(row.id, 'active');
              return { user: row, created: result.created };
            }),
          );
    // the mark goes once the row is active again: a concurrent 403 re-marks them, never the reverse
    if (marked) await deps.unblock(from.id);
    if (user !== ctx.user) await deps.cache.set(userCacheKey(from.id), user, USER_CACHE);
    ctx.user = user;
    if (created) ctx.firstContact = true;
    // a row created now was created seen (`upsertFromTelegram` sets `last_seen_at`)
    if (created) seen.set(user.id, Date.now());
    const last = seen.get(user.id) ?? 0;
    if (Date.now() - last > 5 * 60_000) {
      seen.set(user.id, Date.now());
      await deps.users.touchLastSeen(user.id);
    }
    await next();
  };
}
