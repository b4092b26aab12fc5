// /usuario: what staff want to know about one user — role, balance, VIP, last seen.
import type { Database } from '@diana/db';
import { ROLE_LABELS } from '@diana/security';
import type { Composer } from 'grammy';
import { cutText } from '../cut.js';
import { parseTelegramId } from '../ids.js';
import { type AdminContext, type AdminKit, shownName } from '../kit.js';
import { TEXTS } from '../texts.js';
import { formatHumanDate, formatHumanMoment } from '../time.js';

/** A user's running VIP subscription: its tariff and end; undefined when none runs. */
export function createSubscriptionLookup(db: Database, now: () => Date) {
  return async (user_id: string): Promise<{ tariff: string; ends_at: Date } | undefined> => {
    const [row] = await db.sql<{ tariff: string; ends_at: Date }[]>`
      select t.name as tariff, s.ends_at from admin_subscriptions s join admin_tariffs t on t.id = s.tariff_id
      where s.user_id = ${user_id} and s.status = 'active' and s.ends_at > ${now()}`;
    return row ? { tariff: row.tariff, ends_at: row.ends_at } : undefined;
  };
}

export function registerUsers(
  composer: Composer<AdminContext>,
  kit: AdminKit,
  subscription: ReturnType<typeof createSubscriptionLookup>,
): void {
  const { db, users, settings, deps } = kit;

  composer.command(
    'usuario',
    kit.guarded('view_stats', async (ctx, [ref]) => {
      if (!ref) return ctx.reply(TEXTS.usage(TEXTS.userLookupUsage));
      // looking someone up changes nothing, so a @username is fine here (unlike /ban or /rol)
      const username = /^@?([A-Za-z][A-Za-z0-9_]{3,31})$/.exec(ref)?.[1];
      let user: Awaited<ReturnType<typeof users.getById>>;
      if (username) {
        const [row] = await db.sql<{ id: string }[]>`
          select id from users where lower(username) = ${username.toLowerCase()} order by last_seen_at desc nulls last limit 1`;
        user = row ? await users.getById(row.id) : undefined;
        if (!user) return ctx.reply(TEXTS.noSuchUsername(username));
      } else {
        let telegramId: number;
        try {
          telegramId = parseTelegramId(ref);
        } catch {
          return ctx.reply(TEXTS.badUserRef(cutText(ref, 40)));
        }
        if (telegramId < 0) return ctx.reply(TEXTS.badUserRef(cutText(ref, 40)));
        user = await users.getByTelegramId(telegramId);
        if (!user) return ctx.reply(TEXTS.noSuchUser);
      }
      let balance: number | undefined;
      try {
        balance = await deps.balance?.(user.id);
      } catch (error) {
        kit.logger.warn({ err: error, user_id: user.id }, 'balance port failed; /usuario shows no balance');
      }
      const sub = await subscription(user.id);
      const now = kit.now();
      await ctx.reply(
        TEXTS.userCard({
          name: shownName([user.first_name, user.last_name].filter(Boolean).join(' ')),
          username: user.username ? shownName(user.username) || null : null,
          telegram_id: user.telegram_id,
          role: ROLE_LABELS[user.role] ?? user.role,
          balance,
          vip: sub
            ? TEXTS.vipUntil(sub.tariff, formatHumanDate(sub.ends_at, settings.timezone, now))
            : user.role === 'VIP'
              ? TEXTS.vipByRole
              : undefined,
          last_seen: user.last_seen_at ? formatHumanMoment(user.last_seen_at, settings.timezone, now) : undefined,
          blocked: user.status === 'blocked',
        }),
      );
    }),
  );
}
