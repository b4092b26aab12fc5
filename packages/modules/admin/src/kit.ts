// What every staff command shares: the deps, the audit writer, the permission guard, finding a
// user by the id staff typed and replies longer than one message. module.ts builds one kit
// and hands it to each file under commands/.
import type { ConfigManager } from '@diana/config';
import type { Database, UserRepository } from '@diana/db';
import type { EventBusService, EventRegistry } from '@diana/event-bus';
import { atLeast, can, normalizeText, oneLine, type Permission, type TokenService } from '@diana/security';
import type { ModuleContext } from '@diana/security/grammy';
import { type Clock, isDianaError, type Logger, newId } from '@diana/utils';
import type { Api } from 'grammy';
import type { InlineKeyboardButton } from 'grammy/types';
import { createVipChannel, type VipChannel } from './channel.js';
import { cutText } from './cut.js';
import type { ADMIN_EVENTS } from './events.js';
import { ADMIN_ERROR_CODES, parseTelegramId } from './ids.js';
import { splitMessage } from './paging.js';
import { TEXTS } from './texts.js';

/** The context the module's handlers run with (`ctx.user` is set by the app). */
/** The context the staff commands run with: the app's shared module flavor. */
export type AdminContext = ModuleContext;

export interface AdminSettings {
  /** The private VIP channel: invite links on redeem, removal on expiry (tried until done). */
  readonly vip_channel_id?: number;
  /** Where scheduled posts go when no channel is given. */
  readonly main_channel_id?: number;
  /**
   * Further chats a CONTENT_CREATOR may schedule posts to, besides the main and VIP channels;
   * any other chat needs ADMIN.
   */
  readonly post_channel_ids?: readonly number[];
  readonly timezone: string;
  /** How long an issued VIP token stays valid. @default 7 days */
  readonly token_ttl_ms?: number;
  /** How often `start()` runs the jobs (subscriptions, scheduled posts). @default 30 000 */
  readonly job_interval_ms?: number;
  /**
   * A scheduled post's claim not renewed for this long (its process died or froze while sending)
   * is taken over by the next pass; the sender renews it every quarter of it. @default 60 000
   */
  readonly post_claim_lease_ms?: number;
}

/** `post_claim_lease_ms`'s default. */
export const DEFAULT_POST_CLAIM_LEASE_MS = 60_000;

export interface AdminDeps {
  readonly db: Database;
  /** Created with the same `db`: events published inside a transaction join it (outbox). */
  readonly bus: EventBusService<EventRegistry & typeof ADMIN_EVENTS>;
  readonly config: ConfigManager;
  readonly tokens: TokenService;
  /** The Bot API (jobs send reminders and posts through it). */
  readonly api: () => Api;
  readonly botUsername: () => string;
  /** Called after a committed role change (the app drops its cached row of that Telegram user). */
  readonly onRoleChanged?: (telegram_id: number) => Promise<unknown>;
  /** Buttons to attach to a published post (the app passes gamification's react button). */
  readonly decoratePost?: (post_id: string) => InlineKeyboardButton[][];
  /** A user's besitos balance, for `/usuario` (the app passes `gamification.ledger.balance`); absent: not shown. */
  readonly balance?: (user_id: string) => Promise<number>;
  /** Besitos held by all users together, for `/stats`; absent: not shown. */
  readonly besitosInCirculation?: () => Promise<number>;
  readonly clock?: Clock;
  readonly logger?: Logger;
}

/** The longest reason a staff command takes (`admin.besitos_granted` carries it: ≤ 200). */
export const REASON_MAX = 200;

/** An audit row: who (`tg:<id>` or `system`), what, on what, why, and details as JSON. */
export interface AuditEntry {
  readonly actor: string;
  readonly action: string;
  readonly target?: string;
  readonly reason?: string;
  readonly details?: unknown;
  /**
   * The Telegram update (`ctx.update.update_id`) the row is written for: a second row of the
   * same action for the same update is refused (`AlreadyHandled`, which rolls the command's
   * transaction back and is answered by `guarded`).
   */
  readonly update_id?: number;
}

/**
 * Thrown by `audit` when the update it names already wrote that action's row (Telegram sent the
 * update again): the transaction holding the command's effect rolls back, and `guarded` tells
 * the staff member it was done already.
 */
export class AlreadyHandled extends Error {
  constructor(readonly update_id: number) {
    super(`update ${update_id} was handled already`);
    this.name = 'AlreadyHandled';
  }
}

export interface AdminKit {
  readonly settings: AdminSettings;
  readonly deps: AdminDeps;
  readonly db: Database;
  readonly users: UserRepository;
  readonly clock: Clock;
  readonly logger: Logger;
  now(): Date;
  /**
   * Writes an audit row, in the transaction in progress if any (`db.session()`); returns its id.
   * With `update_id`, throws `AlreadyHandled` when that update wrote the action already (a
   * concurrent run of it waits for the other's transaction): run it in the transaction that
   * holds the command's effect, so a redelivered update does not repeat it.
   */
  audit(entry: AuditEntry): Promise<string>;
  /** The Telegram update being handled (`ctx.update.update_id`), for `AuditEntry.update_id`. */
  updateOf(ctx: AdminContext): number;
  /** `tg:<telegram id>` of who sent the update. */
  actorOf(ctx: AdminContext): string;
  actorRole(ctx: AdminContext): string;
  /**
   * The handler, run only for holders of `permission` (with the command's words as `args`):
   * staff without it are told; anyone else never learns the command exists. A handler that
   * throws `AlreadyHandled` (its update was handled before) is answered "Ya estaba hecho".
   */
  guarded(
    permission: Permission,
    handle: (ctx: AdminContext, args: string[]) => Promise<unknown>,
  ): (ctx: AdminContext, next: () => Promise<void>) => Promise<void>;
  /**
   * The reason a staff command's last words give, joined: at most REASON_MAX characters (what
   * the events that carry it take). A longer one is refused here, with a reply that says so, and
   * nothing is done: `undefined`.
   */
  reasonOf(ctx: AdminContext, words: readonly string[]): Promise<string | undefined>;
  /** The user a staff command names by numeric Telegram id; replies itself when there is none. */
  findUser(ctx: AdminContext, ref: string): ReturnType<UserRepository['getByTelegramId']>;
  /** A reply that may outgrow one message: sent as several, cut at line ends. */
  replyPaged(ctx: AdminContext, text: string): Promise<void>;
  /**
   * A message outside any update (jobs, reports): not delivered is logged, never thrown. With
   * `signal` (an event handler's), the call to Telegram ends when the handler is aborted.
   */
  send(chat: number, text: string, signal?: AbortSignal): Promise<void>;
  /**
   * After a committed role change: the app drops its cached row of that Telegram user
   * (`onRoleChanged`), so the next update sees the new role. A failure is logged: the cached
   * row expires by itself within seconds.
   */
  roleChanged(telegram_id: number): Promise<void>;
  /** What the VIP channel is owed (removals, invites), and the means to pay it (`channel.ts`). */
  readonly vipChannel: VipChannel;
  /**
   * Inside the caller's transaction, once it holds the subscription's row: a FREE user becomes
   * VIP (`'VIP'`), or a VIP user FREE (`'FREE'`), decided on the user's row locked now — never
   * on a row read before (a cached one, or one a concurrent expiry or /rol changed since):
   * staff and BANNED stay as they are. True when the role changed. Lock order everywhere:
   * the subscription, then the user.
   */
  switchVip(user_id: string, to: 'VIP' | 'FREE'): Promise<boolean>;
}

/** The kit over the module's deps. */
export function createKit(
  settings: AdminSettings,
  deps: AdminDeps,
  parts: { users: UserRepository; clock: Clock; logger: Logger },
): AdminKit {
  const { users, clock, logger } = parts;
  const actorRole = (ctx: AdminContext) => ctx.user?.role ?? 'FREE';
  return {
    settings,
    deps,
    db: deps.db,
    users,
    clock,
    logger,
    now: () => new Date(clock.now()),
    vipChannel: createVipChannel({ db: deps.db, api: deps.api, clock, logger, channel_id: settings.vip_channel_id }),
    async audit(a) {
      const id = newId();
      // clock_timestamp(): the time the row is written (after any lock waited for), not when the
      // transaction began, so rows of one target are in the order the changes happened
      const rows = await deps.db.session()`
        insert into admin_audit (id, actor, action, target, reason, details, created_at, update_id)
        values (${id}, ${a.actor}, ${a.action}, ${a.target ?? null}, ${a.reason ?? ''}, ${JSON.stringify(a.details ?? {})}::text::jsonb,
                clock_timestamp(), ${a.update_id ?? null})
        on conflict (action, update_id) where update_id is not null do nothing
        returning 1`;
      if (rows.length === 0) throw new AlreadyHandled(a.update_id ?? 0);
      return id;
    },
    updateOf: (ctx) => ctx.update.update_id,
    actorOf: (ctx) => `tg:${ctx.from?.id ?? 0}`,
    actorRole,
    guarded: (permission, handle) => async (ctx, next) => {
      const role = actorRole(ctx);
      if (!can(role, permission)) {
        if (atLeast(role, 'MODERATOR')) await ctx.reply(TEXTS.forbidden);
        else await next();
        return;
      }
      const args = typeof ctx.match === 'string' ? ctx.match.trim().split(/\s+/).filter(Boolean) : [];
      try {
        await handle(ctx, args);
      } catch (error) {
        // Telegram sent this update again (a lease outlived, a crash after the commit): the
        // first run's effect stands, this one's was rolled back
        if (!(error instanceof AlreadyHandled)) throw error;
        logger.info({ update_id: error.update_id }, 'staff command already handled; not repeated');
        await ctx.reply(TEXTS.alreadyDone);
      }
    },
    async reasonOf(ctx, words) {
      // normalized where it is read: no control character (an ESC sequence cleared and recoloured
      // the console chat of the user the reason was told to) nor bidi override reaches an audit
      // row, an event or a reply. Ids and amounts stay as typed: their parsers refuse what is
      // not plain digits, invisible characters included
      const reason = normalizeText(words.join(' '));
      if (reason.length <= REASON_MAX) return reason;
      await ctx.reply(TEXTS.reasonTooLong(reason.length, REASON_MAX));
      return undefined;
    },
    async findUser(ctx, ref) {
      let telegramId: number | undefined;
      try {
        telegramId = parseTelegramId(ref);
      } catch (error) {
        if (!isDianaError(error, ADMIN_ERROR_CODES.BAD_ID)) throw error;
      }
      if (telegramId === undefined || telegramId < 0) {
        // a @username is refused with its reason; anything else is just not an id
        await ctx.reply(ref.startsWith('@') ? TEXTS.numericIdOnly : TEXTS.notAUserId(cutText(ref, 40)));
        return undefined;
      }
      const user = await users.getByTelegramId(telegramId);
      if (!user) await ctx.reply(TEXTS.noSuchUser);
      return user;
    },
    async replyPaged(ctx, text) {
      for (const page of splitMessage(text)) await ctx.reply(page);
    },
    async send(chat, text, signal) {
      try {
        // grammY types its signal with a polyfill's AbortSignal; Node's is the same at run time
        await deps.api().sendMessage(chat, text, undefined, signal as Parameters<Api['sendMessage']>[3]);
      } catch (error) {
        logger.warn({ err: error, chat }, 'job message not delivered');
      }
    },
    async switchVip(user_id, to) {
      const [row] = await deps.db.session()<
        { role: string }[]
      >`select role from users where id = ${user_id} for update`;
      if (row?.role !== (to === 'VIP' ? 'FREE' : 'VIP')) return false;
      await users.setRole(user_id, to);
      return true;
    },
    async roleChanged(telegram_id) {
      try {
        await deps.onRoleChanged?.(telegram_id);
      } catch (error) {
        logger.warn({ err: error, telegram_id }, 'could not drop the cached user after a role change');
      }
    },
  };
}

// Invisible in a name, and the means to make one look like another's ("A\u200Dna" shows as
// "Ana"): the joiners and directional marks `oneLine` keeps for text that needs them.
const INVISIBLE_IN_NAMES = /[\u061C\u200C-\u200F]/g;

/**
 * A name a user chose, as staff's replies show it: on one line (`oneLine`: a line break or a
 * paragraph separator in a name would fake lines of the reply, "Saldo: 99999 besitos"), without
 * the characters that reorder or hide text (a right-to-left override in a name would show the id
 * after it reversed, the one staff copy into /ban or /besitos), nor those that show nothing —
 * soft hyphens, variation selectors, tags, Hangul fillers, joiners, directional marks. HTML
 * replies get the first part from `html`.
 */
export function shownName(name: string): string {
  return oneLine(name.replace(INVISIBLE_IN_NAMES, ''));
}

/** How staff replies name a user: first name and Telegram id, e.g. "Ana (123456)". */
export function displayName(user: { readonly first_name: string; readonly telegram_id: number }): string {
  return `${shownName(user.first_name)} (${user.telegram_id})`;
}
