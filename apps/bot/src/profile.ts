// /perfil: who the user is to the bot — role in Spanish, VIP expiry in words, besitos and the
// streak of daily gifts. The facts come from their homes through `ProfileSources` (the ledger
// and the gifts are gamification's, subscriptions are admin's): the app wires them.
import { oneLine, ROLE_LABELS } from '@diana/security';
import { formatBesitos } from '@diana/utils';
import { Composer } from 'grammy';
import type { AppContext } from './middleware.js';
import { TEXTS } from './texts.js';

/** Where the profile's facts come from. */
export interface ProfileSources {
  /** The user's besitos and, when known, the days in a row they claimed the daily gift. */
  besitos(user_id: string): Promise<{ balance: number; streak_days?: number }>;
  /** When the user's VIP subscription ends, if they have one. */
  vipUntil(user_id: string): Promise<Date | undefined>;
}

/** `/perfil`, with dates in `timezone`. */
export function profileCommand(sources: ProfileSources, options: { timezone: string }): Composer<AppContext> {
  const composer = new Composer<AppContext>();
  composer.command('perfil', async (ctx) => {
    const user = ctx.user;
    if (!user) return;
    const [{ balance, streak_days }, until] = await Promise.all([sources.besitos(user.id), sources.vipUntil(user.id)]);
    const now = new Date();
    const lines = [
      TEXTS.profileTitle,
      '',
      TEXTS.profileName(oneLine([user.first_name, user.last_name].filter(Boolean).join(' '))),
      TEXTS.profileRole((ROLE_LABELS as Record<string, string>)[user.role] ?? user.role),
      ...(until && until > now ? [TEXTS.profileVip(formatDayMonth(until, options.timezone, now))] : []),
      TEXTS.profileBalance(formatBesitos(balance)),
      ...(streak_days !== undefined ? [TEXTS.profileStreak(streak_days)] : []),
    ];
    await ctx.reply(lines.join('\n'), { parse_mode: 'HTML' });
  });
  return composer;
}

/** "28 de diciembre" in `timezone`; "28 de diciembre de 2027" when not in `now`'s year. */
export function formatDayMonth(date: Date, timezone: string, now = new Date()): string {
  const year = (d: Date) => new Intl.DateTimeFormat('es-ES', { year: 'numeric', timeZone: timezone }).format(d);
  return new Intl.DateTimeFormat('es-ES', {
    day: 'numeric',
    month: 'long',
    ...(year(date) !== year(now) ? { year: 'numeric' } : {}),
    timeZone: timezone,
  }).format(date);
}
