import { CONFIG_ERROR_CODES, type ConfigManager } from '@diana/config';
import type { Database } from '@diana/db';
import { createUserRepository, type UserRole } from '@diana/db';
import {
  EVENT_BUS_ERROR_CODES,
  type EventBusService,
  type EventRegistry,
  type ModuleSubscription,
} from '@diana/event-bus';
import type { TransactionSql } from '@diana/postgres';
import {
  atLeast,
  can,
  canAssignRole,
  getRoleLevel,
  type Permission,
  ROLE_LABELS,
  SECURITY_ERROR_CODES,
  type TokenService,
} from '@diana/security';
import {
  BESITOS_ERROR_CODES,
  BESITOS_MAX,
  type BesitosRefusal,
  type Clock,
  getPackageLogger,
  type Issue,
  isDianaError,
  type Logger,
  newId,
  parseBesitos,
  SYSTEM_CLOCK,
} from '@diana/utils';
import { type Api, Composer, type Context } from 'grammy';
import type { InlineKeyboardButton } from 'grammy/types';
import * as v from 'valibot';
import type { ADMIN_EVENTS } from './events.js';
import { ADMIN_ERROR_CODES, parseTelegramId } from './ids.js';
import { MESSAGE_LIMIT, splitMessage } from './paging.js';
import { formatPrice, parsePriceCents } from './price.js';
import { parseRoleName } from './roles.js';
import { TEXTS } from './texts.js';
import { formatLocalTime, parseLocalTime } from './time.js';

/** The context the module's handlers run with (`ctx.user` is set by the app). */
export type AdminContext = Context & {
  user?: { readonly id: string; readonly role: string; readonly telegram_id: number };
};

export interface AdminSettings {
  /** The private VIP channel: invite links on redeem, removal on expiry. */
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
}

export interface AdminDeps {
  readonly db: Database;
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
  readonly clock?: Clock;
  readonly logger?: Logger;
}

export interface AdminModule {
  readonly composer: Composer<AdminContext>;
  /** What the module consumes: `gamification.adjustment_applied`, told to the admin who asked for it. */
  readonly subscriptions: readonly ModuleSubscription[];
  /**
   * Makes `users.role` agree with the owners setting: every OWNER whose Telegram id is not in
   * `owner_telegram_ids` becomes ADMIN, audited (`role`, actor `system`) with
   * `admin.role_changed`. Nothing else can demote an OWNER (`/rol` never touches one), so the
   * app runs this at start. Safe with several processes starting at once. Returns who changed.
   */
  syncOwners(owner_telegram_ids: readonly number[]): Promise<Array<{ user_id: string; telegram_id: number }>>;
  /** One pass of the subscription lifecycle and the scheduled posts (safe with several processes). */
  runJobs(): Promise<{ reminded: number; expired: number; published: number }>;
  /** Runs `runJobs` every `interval_ms` until `close`. */
  startJobs(interval_ms?: number): void;
  /** The jobs loop for readiness: started and not closed, failed passes in a row, last pass that succeeded. */
  jobsStatus(): { running: boolean; consecutive_failures: number; last_ok_at: number | undefined };
  close(): Promise<void>;
}

const DAY = 86_400_000;

export function createAdminModule(settings: AdminSettings, deps: AdminDeps): AdminModule {
  const logger = getPackageLogger(deps.logger, 'admin');
  const { db, bus, config, tokens } = deps;
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const users = createUserRepository(db);
  const now = () => new Date(clock.now());

  const audit = (
    tx: TransactionSql,
    a: { actor: string; action: string; target?: string; reason?: string; details?: unknown },
  ) =>
    // clock_timestamp(): the time the row is written (after any lock waited for), not when the
    // transaction began, so rows of one target are in the order the changes happened
    tx`insert into admin_audit (id, actor, action, target, reason, details, created_at)
       values (${newId()}, ${a.actor}, ${a.action}, ${a.target ?? null}, ${a.reason ?? ''}, ${JSON.stringify(a.details ?? {})}::text::jsonb, clock_timestamp())`;
  const actorOf = (ctx: AdminContext) => `tg:${ctx.from?.id ?? 0}`;

  /** Staff without the permission are told; anyone else never learns the command exists. */
  const guarded =
    (permission: Permission, handle: (ctx: AdminContext, args: string[]) => Promise<unknown>) =>
    async (ctx: AdminContext, next: () => Promise<void>) => {
      const role = ctx.user?.role ?? 'FREE';
      if (!can(role, permission)) {
        if (atLeast(role, 'MODERATOR')) await ctx.reply('No tienes permiso para hacer esto.');
        else await next();
        return;
      }
      const args = typeof ctx.match === 'string' ? ctx.match.trim().split(/\s+/).filter(Boolean) : [];
      await handle(ctx, args);
    };

  /**
   * The user a staff command names, by numeric Telegram id only: a `@username` can have
   * changed hands since staff last saw it, so it is refused with the reason. Replies itself
   * when there is no such user.
   */
  const findUser = async (ctx: AdminContext, ref: string) => {
    let telegramId: number | undefined;
    try {
      telegramId = parseTelegramId(ref);
    } catch (error) {
      if (!isDianaError(error, ADMIN_ERROR_CODES.BAD_ID)) throw error;
    }
    if (telegramId === undefined || telegramId < 0) {
      await ctx.reply(TEXTS.numericIdOnly);
      return undefined;
    }
    const user = await users.getByTelegramId(telegramId);
    if (!user) await ctx.reply(TEXTS.noSuchUser);
    return user;
  };

  /** A reply that may outgrow one message (listings): sent as several, cut at line ends. */
  const replyPaged = async (ctx: AdminContext, text: string) => {
    for (const page of splitMessage(text)) await ctx.reply(page);
  };

  const composer = new Composer<AdminContext>();

  type RoleChange = { readonly to: UserRole } | { readonly refuse: string };
  /**
   * Changes `target`'s role under a lock on their row: `decide` sees the role as it is now
   * (not as it was when the command was read), so two changes of one user run one after the
   * other and each is audited with the role the other left. Committed, the app drops its
   * cached row (`onRoleChanged`): a ban holds from the next update.
   */
  const changeRole = async (
    ctx: AdminContext,
    target: { readonly id: string; readonly telegram_id: number },
    action: 'role' | 'ban' | 'unban',
    decide: (current: UserRole, tx: TransactionSql) => RoleChange | Promise<RoleChange>,
    reason = '',
  ): Promise<RoleChange> => {
    const outcome = await db.transaction(async (tx): Promise<RoleChange> => {
      const [row] = await tx<{ role: UserRole }[]>`select role from users where id = ${target.id} for update`;
      if (!row) return { refuse: TEXTS.noSuchUser };
      const change = await decide(row.role, tx);
      if ('refuse' in change) return change;
      await users.setRole(target.id, change.to);
      await audit(tx, {
        actor: actorOf(ctx),
        action,
        target: target.id,
        reason,
        details: { from: row.role, to: change.to },
      });
      await bus.publish(
        'admin.role_changed',
        { user_id: target.id, role: change.to, by: actorOf(ctx) },
        { tx, key: target.id },
      );
      return change;
    });
    if ('to' in outcome)
      try {
        await deps.onRoleChanged?.(target.telegram_id);
      } catch (error) {
        // committed already: the cached row expires by itself within seconds
        logger.warn({ err: error, user_id: target.id }, 'could not drop the cached user after a role change');
      }
    return outcome;
  };
  const actorRole = (ctx: AdminContext) => ctx.user?.role ?? 'FREE';

  // roles: nobody raises anyone to or above their own role
  composer.command(
    'rol',
    guarded('assign_roles', async (ctx, [ref, roleName]) => {
      if (!ref || !roleName) return ctx.reply(TEXTS.usage('/rol <id de Telegram> <rol>'));
      const role = parseRoleName(roleName);
      if (!role) return ctx.reply(TEXTS.badRole(roleName));
      const target = await findUser(ctx, ref);
      if (!target) return;
      const outcome = await changeRole(ctx, target, 'role', (current) =>
        canAssignRole(actorRole(ctx), current, role) ? { to: role } : { refuse: TEXTS.roleForbidden },
      );
      await ctx.reply('to' in outcome ? TEXTS.roleChanged(ref, ROLE_LABELS[role]) : outcome.refuse);
    }),
  );

  // bans: a MODERATOR's own path (ban_users); only someone below the actor's role, never an OWNER
  composer.command(
    'ban',
    guarded('ban_users', async (ctx, [ref, ...reason]) => {
      if (!ref) return ctx.reply(TEXTS.usage('/ban <id de Telegram> [motivo]'));
      const target = await findUser(ctx, ref);
      if (!target) return;
      const outcome = await changeRole(
        ctx,
        target,
        'ban',
        (current) => {
          if (current === 'BANNED') return { refuse: TEXTS.alreadyBanned(ref) };
          if (getRoleLevel(current) >= getRoleLevel(actorRole(ctx))) return { refuse: TEXTS.banForbidden };
          return { to: 'BANNED' };
        },
        reason.join(' '),
      );
      await ctx.reply('to' in outcome ? TEXTS.banned(ref) : outcome.refuse);
    }),
  );

  // an unbanned user is VIP again while their subscription runs, FREE otherwise
  composer.command(
    'unban',
    guarded('ban_users', async (ctx, [ref, ...reason]) => {
      if (!ref) return ctx.reply(TEXTS.usage('/unban <id de Telegram> [motivo]'));
      const target = await findUser(ctx, ref);
      if (!target) return;
      const outcome = await changeRole(
        ctx,
        target,
        'unban',
        async (current, tx) => {
          if (current !== 'BANNED') return { refuse: TEXTS.notBanned(ref) };
          const [sub] = await tx<{ active: boolean }[]>`
            select (status = 'active' and ends_at > ${now()}) as active from admin_subscriptions where user_id = ${target.id}`;
          return { to: sub?.active ? 'VIP' : 'FREE' };
        },
        reason.join(' '),
      );
      await ctx.reply('to' in outcome ? TEXTS.unbanned(ref, ROLE_LABELS[outcome.to]) : outcome.refuse);
    }),
  );

  composer.command(
    'tarifa',
    guarded('manage_subscriptions', async (ctx, [rawName, days, price]) => {
      if (!rawName || days === undefined || price === undefined)
        return ctx.reply(TEXTS.usage('/tarifa <nombre> <días> <precio>, por ejemplo /tarifa mensual 30 9,99'));
      // each argument is checked on its own, and a refusal names the one that is wrong
      const name = rawName.toLowerCase();
      if (!/^[a-z0-9_]{1,32}$/.test(name)) return ctx.reply(TEXTS.badTariffName(rawName));
      const d = /^\d{1,4}$/.test(days) ? Number(days) : Number.NaN;
      if (!(d >= 1 && d <= 3_650)) return ctx.reply(TEXTS.badTariffDays(days));
      const p = parsePriceCents(price);
      if (p === undefined) return ctx.reply(TEXTS.badTariffPrice(price));
      const created = await db.transaction(async (tx) => {
        const rows =
          await tx`insert into admin_tariffs (id, name, days, price_cents, created_by) values (${newId()}, ${name}, ${d}, ${p}, ${actorOf(ctx)})
                              on conflict (name) do nothing returning 1`;
        if (rows.length > 0)
          await audit(tx, {
            actor: actorOf(ctx),
            action: 'tariff',
            target: name,
            details: { days: d, price_cents: p },
          });
        return rows.length > 0;
      });
      await ctx.reply(created ? TEXTS.tariffCreated(name, d, formatPrice(p)) : TEXTS.tariffExists);
    }),
  );

  composer.command(
    'token',
    guarded('manage_subscriptions', async (ctx, [name]) => {
      if (!name) return ctx.reply(TEXTS.usage('/token <tarifa>'));
      const [tariff] = await db.sql<
        { id: string; days: number }[]
      >`select id, days from admin_tariffs where name = ${name}`;
      if (!tariff) return ctx.reply(TEXTS.noSuchTariff);
      const { token, record } = await tokens.issue({
        purpose: 'vip',
        ttl_ms: settings.token_ttl_ms ?? 7 * DAY,
        data: { tariff_id: tariff.id },
      });
      await db.transaction((tx) =>
        audit(tx, { actor: actorOf(ctx), action: 'token', target: name, details: { token_id: record.id } }),
      );
      await ctx.reply(TEXTS.tokenIssued(`https://t.me/${deps.botUsername()}?start=vip_${token}`, tariff.days));
    }),
  );

  // /start vip_<token>: redeem → subscription started or extended, role VIP, an invite link
  composer.command('start', async (ctx, next) => {
    const payload = typeof ctx.match === 'string' ? ctx.match : '';
    if (!payload.startsWith('vip_') || !ctx.user) return next();
    const user = ctx.user;
    let ends: Date;
    try {
      ends = await db.transaction(async (tx) => {
        const record = await tokens.redeem(payload.slice(4), 'vip', { by: user.id });
        const tariffId = String((record.data as { tariff_id?: string }).tariff_id);
        const [tariff] = await tx<
          { name: string; days: number }[]
        >`select name, days from admin_tariffs where id = ${tariffId}`;
        const at = now();
        const [sub] = await tx<{ ends_at: Date }[]>`
          insert into admin_subscriptions (user_id, tariff_id, started_at, ends_at, status)
          values (${user.id}, ${tariffId}, ${at}, ${new Date(at.getTime() + (tariff?.days ?? 0) * DAY)}, 'active')
          on conflict (user_id) do update set
            tariff_id = excluded.tariff_id, status = 'active', expired_at = null, reminded_7d_at = null, reminded_24h_at = null,
            started_at = case when admin_subscriptions.status = 'active' then admin_subscriptions.started_at else excluded.started_at end,
            ends_at = greatest(admin_subscriptions.ends_at, ${at}) + make_interval(days => ${tariff?.days ?? 0})
          returning ends_at`;
        if (!atLeast(user.role, 'VIP')) await users.setRole(user.id, 'VIP');
        await audit(tx, {
          actor: `tg:${ctx.from?.id}`,
          action: 'redeem',
          target: user.id,
          details: { tariff: tariff?.name },
        });
        await bus.publish(
          'admin.subscription_started',
          { user_id: user.id, tariff: tariff?.name ?? '', ends_at: (sub?.ends_at ?? at).toISOString() },
          { tx, key: user.id, user_id: user.id },
        );
        return sub?.ends_at ?? at;
      });
    } catch (error) {
      if (isDianaError(error, SECURITY_ERROR_CODES.TOKEN_USED)) return ctx.reply(TEXTS.tokenUsed);
      if (isDianaError(error, SECURITY_ERROR_CODES.TOKEN_EXPIRED)) return ctx.reply(TEXTS.tokenExpired);
      if (
        isDianaError(error, SECURITY_ERROR_CODES.TOKEN_UNKNOWN) ||
        isDianaError(error, SECURITY_ERROR_CODES.TOKEN_MALFORMED)
      )
        return ctx.reply(TEXTS.tokenUnknown);
      throw error;
    }
    await ctx.reply(TEXTS.redeemed(formatLocalTime(ends, settings.timezone)));
    if (settings.vip_channel_id !== undefined) {
      const link = await ctx.api.createChatInviteLink(settings.vip_channel_id, {
        member_limit: 1,
        expire_date: Math.floor(ends.getTime() / 1000),
      });
      await ctx.reply(TEXTS.inviteLink(link.invite_link));
    }
  });

  // the configured channels: a CONTENT_CREATOR posts there only, other chats need ADMIN
  const postChannels = new Set(
    [settings.main_channel_id, settings.vip_channel_id, ...(settings.post_channel_ids ?? [])].filter(
      (id): id is number => id !== undefined,
    ),
  );

  // /programar YYYY-MM-DD HH:MM [chat id] text, then optional button lines "[label](https://…)"
  composer.command(
    'programar',
    guarded('publish_content', async (ctx) => {
      // each refusal names its real reason, and all come before anything is stored
      const text = typeof ctx.match === 'string' ? ctx.match : '';
      const match = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2})(?:\s+(-?\d{5,})(?=\s|$))?(?:\s+([\s\S]*))?$/.exec(text.trim());
      const at = match ? parseLocalTime(match[1] as string, settings.timezone) : undefined;
      if (!match || !at) return ctx.reply(TEXTS.badTime);
      if (at.getTime() <= clock.now()) return ctx.reply(TEXTS.pastTime(formatLocalTime(at, settings.timezone)));
      let channel = settings.main_channel_id;
      if (match[2] !== undefined) {
        try {
          channel = parseTelegramId(match[2]);
        } catch (error) {
          if (isDianaError(error, ADMIN_ERROR_CODES.BAD_ID)) return ctx.reply(TEXTS.badChatId);
          throw error;
        }
      }
      if (channel === undefined) return ctx.reply(TEXTS.noMainChannel);
      if (!postChannels.has(channel) && !atLeast(ctx.user?.role ?? 'FREE', 'ADMIN'))
        return ctx.reply(TEXTS.channelForbidden);
      const { body, buttons } = splitButtons(match[3] ?? '');
      if (body.length === 0) return ctx.reply(TEXTS.noPostText);
      if (body.length > MESSAGE_LIMIT) return ctx.reply(TEXTS.postTooLong(body.length, MESSAGE_LIMIT));
      await db.transaction(async (tx) => {
        const id = newId();
        await tx`insert into admin_scheduled_posts (id, channel_id, text, buttons, publish_at, status, created_by)
                 values (${id}, ${String(channel)}, ${body}, ${JSON.stringify(buttons)}::text::jsonb, ${at}, 'pending', ${actorOf(ctx)})`;
        await audit(tx, {
          actor: actorOf(ctx),
          action: 'schedule_post',
          target: id,
          details: { publish_at: at.toISOString(), channel: String(channel) },
        });
      });
      await ctx.reply(TEXTS.scheduled(formatLocalTime(at, settings.timezone)));
    }),
  );

  const keys = () => config.templates.map((t) => t.key);
  const knownKey = (key: string) => keys().includes(key);
  /** A ConfigManager refusal as a Spanish reply naming the key and each wrong field; else undefined. */
  const configRefusal = (error: unknown, key: string): string | undefined => {
    if (isDianaError(error, CONFIG_ERROR_CODES.CONFIG_NOT_FOUND)) return TEXTS.configNoKey(key, keys());
    if (isDianaError(error, CONFIG_ERROR_CODES.CONFIG_CONFLICT)) return TEXTS.configConflict(key);
    if (isDianaError(error, CONFIG_ERROR_CODES.CONFIG_INVALID)) {
      const issues = (error as { issues?: readonly Issue[] }).issues ?? [];
      return TEXTS.configInvalid(
        key,
        issues.map((i) => TEXTS.configIssue(i.path, i.expected, i.received)),
      );
    }
    return undefined;
  };

  composer.command(
    'config',
    guarded('edit_config', async (ctx, [sub, key, ...rest]) => {
      const actor = actorOf(ctx);
      if (!sub) {
        const lines = config.templates.map((t) => `${t.key}: ${JSON.stringify(config.get(t.key as never))}`);
        return replyPaged(ctx, TEXTS.configList(lines));
      }
      const active = async () => (await config.list({ key, status: 'active' })).find((i) => i.scope === 'global');
      if (sub === 'set' && key) {
        let values: unknown;
        try {
          values = JSON.parse(rest.join(' '));
        } catch {
          return ctx.reply(TEXTS.usage('/config set <clave> <json>'));
        }
        try {
          const draft = await config.createDraft(key as never, values, { actor, reason: 'via /config set' });
          const published = await config.publish(draft.id, { actor, reason: 'via /config set' });
          await db.transaction((tx) =>
            audit(tx, { actor, action: 'config_set', target: key, details: { instance: published.id, values } }),
          );
          return ctx.reply(TEXTS.configDone(key, published.revision));
        } catch (error) {
          const refusal = configRefusal(error, key);
          if (refusal) return replyPaged(ctx, refusal);
          throw error;
        }
      }
      if ((sub === 'history' || sub === 'rollback') && key && !knownKey(key))
        return ctx.reply(TEXTS.configNoKey(key, keys()));
      if (sub === 'history' && key) {
        const instance = await active();
        if (!instance) return ctx.reply(TEXTS.configNoValue(key));
        const history = await config.history(instance.id);
        return replyPaged(
          ctx,
          history
            .map(
              (r) =>
                `#${r.revision} ${formatLocalTime(r.created_at, settings.timezone)} ${r.action} ${r.actor}: ${JSON.stringify(r.values)}`,
            )
            .join('\n'),
        );
      }
      if (sub === 'rollback' && key && rest[0]) {
        const instance = await active();
        if (!instance) return ctx.reply(TEXTS.configNoValue(key));
        const to = /^\d{1,9}$/.test(rest[0]) ? Number(rest[0]) : Number.NaN;
        const revisions = (await config.history(instance.id)).map((r) => r.revision);
        if (!revisions.includes(to)) return ctx.reply(TEXTS.configNoRevision(key, rest[0], revisions));
        let rolled: Awaited<ReturnType<typeof config.rollback>>;
        try {
          rolled = await config.rollback(instance.id, to, { actor, reason: 'via /config rollback' });
        } catch (error) {
          const refusal = configRefusal(error, key);
          if (refusal) return replyPaged(ctx, refusal);
          throw error;
        }
        await db.transaction((tx) =>
          audit(tx, { actor, action: 'config_rollback', target: key, details: { to: Number(rest[0]) } }),
        );
        return ctx.reply(TEXTS.configDone(key, rolled.revision));
      }
      return ctx.reply(TEXTS.usage('/config [set <clave> <json> | history <clave> | rollback <clave> <rev>]'));
    }),
  );

  /** `/besitos` grants, `/quitar_besitos` takes (at most the balance): one plain amount each. */
  const adjust = (sign: 1 | -1, usage: string) =>
    guarded('grant_besitos', async (ctx, [ref, amountText, ...reason]) => {
      if (!ref || amountText === undefined || reason.length === 0) return ctx.reply(TEXTS.usage(usage));
      let amount: number;
      try {
        // digits 0-9 only, 1..BESITOS_MAX: Number() took 1e21 and 0x10 and rounded 9007199254740993
        amount = sign * parseBesitos(amountText);
      } catch (error) {
        if (!isDianaError(error, BESITOS_ERROR_CODES.INVALID)) throw error;
        const why = (error.context as { reason: BesitosRefusal }).reason;
        return ctx.reply(TEXTS.badAmount(amountText, why, BESITOS_MAX));
      }
      const target = await findUser(ctx, ref);
      if (!target) return;
      await db.transaction(async (tx) => {
        await audit(tx, {
          actor: actorOf(ctx),
          action: 'grant_besitos',
          target: target.id,
          reason: reason.join(' '),
          details: { amount },
        });
        await bus.publish(
          'admin.besitos_granted',
          { user_id: target.id, amount, reason: reason.join(' '), actor: actorOf(ctx) },
          { tx, key: target.id },
        );
      });
      await ctx.reply(TEXTS.granted(amount, ref));
    });
  composer.command('besitos', adjust(1, '/besitos <id de Telegram> <cantidad> <motivo>'));

  // what the gamification module actually did with a grant, told to the admin who asked
  const adjustmentApplied = v.object({
    user_id: v.string(),
    requested: v.number(),
    applied: v.number(),
    balance: v.number(),
    actor: v.string(),
  });
  const subscriptions: ModuleSubscription[] = [
    {
      group: 'admin',
      types: ['gamification.adjustment_applied'],
      handler: async (event) => {
        const { user_id, requested, applied, balance, actor } = v.parse(adjustmentApplied, event.payload);
        const chat = /^tg:(\d+)$/.exec(actor)?.[1];
        if (!chat) return;
        const target = await users.getById(user_id);
        await send(
          Number(chat),
          TEXTS.adjustmentApplied(target ? String(target.telegram_id) : user_id, requested, applied, balance),
        );
      },
    },
  ];
  composer.command('quitar_besitos', adjust(-1, '/quitar_besitos <id de Telegram> <cantidad> <motivo>'));

  composer.command(
    'stats',
    guarded('view_stats', async (ctx) => {
      const [row] = await db.sql<{ users: number; vip: number; besitos: string | null }[]>`
        select (select count(*)::int from users) as users,
               (select count(*)::int from admin_subscriptions where status = 'active') as vip,
               (select sum(besitos)::text from gamification_balances) as besitos`.catch(
        async () =>
          db.sql<{ users: number; vip: number; besitos: string | null }[]>`
          select (select count(*)::int from users) as users, (select count(*)::int from admin_subscriptions where status = 'active') as vip, null as besitos`,
      );
      const health = await bus.health();
      const lines = [
        `Usuarios: ${row?.users ?? 0}`,
        `VIP activos: ${row?.vip ?? 0}`,
        `Besitos en circulación: ${row?.besitos ?? 0}`,
        ...health.groups.map((g) => `${g.type} / ${g.group}: pendientes ${g.pending}, retraso ${g.lag}`),
      ];
      await replyPaged(ctx, lines.join('\n'));
    }),
  );

  composer.command(
    'dlq',
    guarded('replay_dlq', async (ctx, [sub, type]) => {
      if (!type || !['list', 'replay'].includes(sub ?? ''))
        return ctx.reply(TEXTS.usage('/dlq list|replay <tipo de evento>'));
      // a type the bus does not know is the admin's typo, not a failure: say so
      const known = <T>(work: () => Promise<T>): Promise<T | undefined> =>
        (async () => work())().catch(async (error: unknown) => {
          if (!isDianaError(error, EVENT_BUS_ERROR_CODES.EVENT_UNKNOWN)) throw error;
          await ctx.reply(TEXTS.dlqUnknownType(type));
          return undefined;
        });
      if (sub === 'list') {
        const letters = await known(() => bus.dlq.list(type as never, 20));
        if (!letters) return;
        return replyPaged(
          ctx,
          letters.length === 0 ? 'Vacía.' : letters.map((l) => `${l.dlq_id} ${l.group}: ${l.error}`).join('\n'),
        );
      }
      const replayed = await known(() => bus.dlq.replay(type as never));
      if (replayed === undefined) return;
      await db.transaction((tx) =>
        audit(tx, { actor: actorOf(ctx), action: 'dlq_replay', target: type, details: { replayed } }),
      );
      await ctx.reply(TEXTS.replayed(replayed));
    }),
  );

  // ---- jobs: safe with several processes (rows claimed with SKIP LOCKED in one transaction) ----
  const send = async (chat: number, text: string) => {
    try {
      await deps.api().sendMessage(chat, text);
    } catch (error) {
      logger.warn({ err: error, chat }, 'job message not delivered');
    }
  };

  // 7 days before the end (not when already in the last day: then only the 24 h one), and 24 h before
  const remind = async (
    column: 'reminded_7d_at' | 'reminded_24h_at',
    within: number,
    notice: '7d' | '24h',
    text: string,
  ) => {
    const at = now();
    const after = new Date(at.getTime() + (notice === '7d' ? DAY : 0));
    const due = await db.transaction(async (tx) => {
      const rows = await tx<{ user_id: string; ends_at: Date; telegram_id: string }[]>`
        select s.user_id, s.ends_at, u.telegram_id::text from admin_subscriptions s join users u on u.id = s.user_id
        where s.status = 'active' and u.status = 'active' and s.${tx(column)} is null and s.ends_at > ${after} and s.ends_at <= ${new Date(at.getTime() + within)}
        order by s.ends_at limit 100 for update of s skip locked`;
      for (const row of rows) {
        await tx`update admin_subscriptions set ${tx(column)} = ${at} where user_id = ${row.user_id}`;
        await bus.publish(
          'admin.subscription_expiring',
          { user_id: row.user_id, ends_at: row.ends_at.toISOString(), notice },
          { tx, key: row.user_id },
        );
      }
      return rows;
    });
    for (const row of due) await send(Number(row.telegram_id), text);
    return due.length;
  };

  const expire = async () => {
    const at = now();
    const due = await db.transaction(async (tx) => {
      const rows = await tx<{ user_id: string; telegram_id: string; role: string; status: string }[]>`
        select s.user_id, u.telegram_id::text, u.role, u.status from admin_subscriptions s join users u on u.id = s.user_id
        where s.status = 'active' and s.ends_at <= ${at} order by s.ends_at limit 100 for update of s skip locked`;
      for (const row of rows) {
        await tx`update admin_subscriptions set status = 'expired', expired_at = ${at} where user_id = ${row.user_id}`;
        if (row.role === 'VIP') await users.setRole(row.user_id, 'FREE');
        await audit(tx, { actor: 'system', action: 'subscription_expired', target: row.user_id });
        await bus.publish('admin.subscription_expired', { user_id: row.user_id }, { tx, key: row.user_id });
      }
      return rows;
    });
    for (const row of due) {
      if (settings.vip_channel_id !== undefined) {
        const member = Number(row.telegram_id);
        await deps
          .api()
          .banChatMember(settings.vip_channel_id, member)
          .catch((error: unknown) => logger.warn({ err: error }, 'removal from the VIP channel failed'));
        await deps
          .api()
          .unbanChatMember(settings.vip_channel_id, member, { only_if_banned: true })
          .catch(() => {});
      }
      if (row.status === 'active') await send(Number(row.telegram_id), TEXTS.farewell); // never to who blocked us
    }
    return due.length;
  };

  const publishPosts = async () => {
    const at = now();
    // claimed (status 'publishing') and committed before sending: another process never sends it too
    const claimed = await db.transaction(
      (tx) => tx<{ id: string; channel_id: string; text: string; buttons: Array<{ text: string; url: string }> }[]>`
        update admin_scheduled_posts set status = 'publishing', claimed_at = ${at}
        where id in (select id from admin_scheduled_posts where status = 'pending' and publish_at <= ${at}
                     order by publish_at limit 20 for update skip locked)
        returning id, channel_id, text, buttons`,
    );
    for (const post of claimed) {
      try {
        const keyboard = [...post.buttons.map((b) => [b]), ...(deps.decoratePost?.(post.id) ?? [])];
        const message = await deps.api().sendMessage(Number(post.channel_id), post.text, {
          ...(keyboard.length > 0 ? { reply_markup: { inline_keyboard: keyboard } } : {}),
        });
        await db.transaction(async (tx) => {
          await tx`update admin_scheduled_posts set status = 'published', published_at = ${now()}, message_id = ${message.message_id} where id = ${post.id}`;
          await bus.publish(
            'admin.post_published',
            { post_id: post.id, channel_id: post.channel_id, message_id: message.message_id },
            { tx, key: post.id },
          );
        });
      } catch (error) {
        logger.error({ err: error, post_id: post.id }, 'scheduled post failed');
        await db.sql`update admin_scheduled_posts set status = 'failed', error = ${String((error as Error).message).slice(0, 500)} where id = ${post.id}`;
      }
    }
    return claimed.length;
  };

  let timer: NodeJS.Timeout | undefined;
  let running: Promise<unknown> | undefined;
  const jobs = { consecutive_failures: 0, last_ok_at: undefined as number | undefined, closed: false };
  const runJobs = async () => {
    const reminded =
      (await remind('reminded_7d_at', 7 * DAY, '7d', TEXTS.reminder7d)) +
      (await remind('reminded_24h_at', DAY, '24h', TEXTS.reminder24h));
    const expired = await expire();
    const published = await publishPosts();
    return { reminded, expired, published };
  };

  const syncOwners = (owners: readonly number[]) =>
    db.transaction(async (tx) => {
      // locked: a second process starting at once finds them ADMIN already (the row is re-checked)
      const rows = await tx<{ id: string; telegram_id: string }[]>`
        select id, telegram_id::text from users
        where role = 'OWNER' and not (telegram_id = any(${owners.map(String)}::text[]::bigint[]))
        order by telegram_id for update`;
      for (const row of rows) {
        await users.setRole(row.id, 'ADMIN');
        await audit(tx, {
          actor: 'system',
          action: 'role',
          target: row.id,
          reason: 'not in owner_telegram_ids',
          details: { from: 'OWNER', to: 'ADMIN' },
        });
        await bus.publish('admin.role_changed', { user_id: row.id, role: 'ADMIN', by: 'system' }, { tx, key: row.id });
        logger.warn({ user_id: row.id }, 'an OWNER not in owner_telegram_ids is ADMIN now');
      }
      return rows.map((row) => ({ user_id: row.id, telegram_id: Number(row.telegram_id) }));
    });

  return {
    composer,
    subscriptions,
    syncOwners,
    runJobs,
    startJobs(interval_ms = 30_000) {
      timer = setInterval(() => {
        running ??= runJobs()
          .then(() => {
            jobs.consecutive_failures = 0;
            jobs.last_ok_at = Date.now();
          })
          .catch((error: unknown) => {
            jobs.consecutive_failures++;
            logger.error({ err: error, failures: jobs.consecutive_failures }, 'admin jobs failed');
          })
          .finally(() => {
            running = undefined;
          });
      }, interval_ms);
      timer.unref();
    },
    jobsStatus: () => ({
      running: timer !== undefined && !jobs.closed,
      consecutive_failures: jobs.consecutive_failures,
      last_ok_at: jobs.last_ok_at,
    }),
    async close() {
      jobs.closed = true;
      if (timer) clearInterval(timer);
      await running;
    },
  };
}

/** Splits trailing lines "[label](https://…)" off a post: the text and its URL buttons (at most 8). */
export function splitButtons(text: string): { body: string; buttons: Array<{ text: string; url: string }> } {
  const lines = text.split('\n');
  const buttons: Array<{ text: string; url: string }> = [];
  while (lines.length > 0) {
    const button = /^\[([^\]]{1,60})\]\((https:\/\/[^\s)]{1,500})\)$/.exec((lines.at(-1) ?? '').trim());
    if (!button) break;
    buttons.unshift({ text: button[1] as string, url: button[2] as string });
    lines.pop();
  }
  return { body: lines.join('\n').trim(), buttons: buttons.slice(0, 8) };
}
