// /start vip_<token>: the token redeemed in one transaction with the subscription (started or
// extended from its end), the role VIP (never lowering staff), the audit row and
// `admin.subscription_started`; then a one-use invite link to the VIP channel (owed until sent:
// the jobs send it when Telegram refused it here, or the process died before).
import { SECURITY_ERROR_CODES } from '@diana/security';
import { isDianaError } from '@diana/utils';
import type { Composer } from 'grammy';
import { INVITE_GRACE_MS } from '../channel.js';
import type { AdminContext, AdminKit } from '../kit.js';
import { TEXTS } from '../texts.js';
import { formatHumanDate } from '../time.js';

const DAY = 86_400_000;

export function registerRedeem(composer: Composer<AdminContext>, kit: AdminKit): void {
  const { db, deps, settings } = kit;
  const bus = deps.bus;

  // /start vip_<token>: redeem → subscription started or extended, role VIP, an invite link
  composer.command('start', async (ctx, next) => {
    const payload = typeof ctx.match === 'string' ? ctx.match : '';
    if (!payload.startsWith('vip_') || !ctx.user) return next();
    const user = ctx.user;
    let redeemed: { ends: Date; extended: boolean; raised: boolean };
    try {
      redeemed = await db.transaction(async (tx) => {
        const record = await deps.tokens.redeem(payload.slice(4), 'vip', { by: user.id });
        const tariffId = String((record.data as { tariff_id?: string }).tariff_id);
        const [tariff] = await tx<
          { name: string; days: number }[]
        >`select name, days from admin_tariffs where id = ${tariffId}`;
        const at = kit.now();
        const days = tariff?.days ?? 0;
        // what the VIP channel is owed: no removal (a renewal keeps the member in), an invite link,
        // sent below; the jobs send it if that has not happened within INVITE_GRACE_MS (channel.ts)
        const inviteDue = kit.vipChannel.id === undefined ? null : new Date(at.getTime() + INVITE_GRACE_MS);
        const [sub] = await tx<{ ends_at: Date; extended: boolean }[]>`
          insert into admin_subscriptions (user_id, tariff_id, started_at, ends_at, status, invite_due_at)
          values (${user.id}, ${tariffId}, ${at}, ${new Date(at.getTime() + days * DAY)}, 'active', ${inviteDue})
          on conflict (user_id) do update set
            tariff_id = excluded.tariff_id, status = 'active', expired_at = null, reminded_7d_at = null, reminded_24h_at = null,
            removal_due_at = null, removal_attempts = 0, removal_error = null, farewell_due_at = null,
            invite_due_at = excluded.invite_due_at, invite_attempts = 0, invite_error = null,
            started_at = case when admin_subscriptions.status = 'active' then admin_subscriptions.started_at else excluded.started_at end,
            -- from the end of one still running; a cancelled one's remaining days are not given back.
            -- Days of 24 hours, as a new one's (a calendar day in the session's time zone is 23 or
            -- 25 hours across a DST change)
            ends_at = case when admin_subscriptions.status = 'active' then greatest(admin_subscriptions.ends_at, ${at}) else ${at} end
                      + make_interval(hours => 24 * ${days})
          -- extended: the end lies past a new period's, so it ran on from a subscription still
          -- running — read off the row as this statement wrote it, under its lock (a snapshot read
          -- before it said "new" to both of two redeems at once)
          returning ends_at, ends_at > ${at}::timestamptz + make_interval(hours => 24 * ${days}) as extended`;
        // a reminder whose window the new end already falls in is not sent: the welcome below
        // names the end (a 3-day pass was told "termina en 7 días" seconds after it)
        await tx`
          update admin_subscriptions
          set reminded_7d_at = case when ends_at <= ${new Date(at.getTime() + 7 * DAY)} then ${at}::timestamptz end,
              reminded_24h_at = case when ends_at <= ${new Date(at.getTime() + DAY)} then ${at}::timestamptz end
          where user_id = ${user.id}`;
        // decided on the user's row locked now: the row this update loaded may be seconds old
        // (a renewal just after an expiry job set FREE kept FREE for the whole paid period)
        const raised = await kit.switchVip(user.id, 'VIP');
        await kit.audit({
          actor: `tg:${ctx.from?.id}`,
          action: 'redeem',
          target: user.id,
          details: { tariff: tariff?.name, extended: sub?.extended === true },
        });
        await bus.publish(
          'admin.subscription_started',
          { user_id: user.id, tariff: tariff?.name ?? '', ends_at: (sub?.ends_at ?? at).toISOString() },
          { key: user.id, user_id: user.id },
        );
        return { ends: sub?.ends_at ?? at, extended: sub?.extended === true, raised };
      });
    } catch (error) {
      const refusal = refusalOf(error);
      if (refusal === undefined) throw error;
      await ctx.reply(refusal);
      // someone whose first message is a spent link still gets the welcome and the story after it
      if (ctx.firstContact) await next();
      return;
    }
    // the cached row said FREE: without this, /perfil read "gratuito" beside "VIP hasta…" for seconds
    if (redeemed.raised && ctx.from) await kit.roleChanged(ctx.from.id);
    const { ends, extended } = redeemed;
    const until = formatHumanDate(ends, settings.timezone, kit.now());
    await ctx.reply(extended ? TEXTS.redeemExtended(until) : TEXTS.redeemed(until));
    // the link owed, sent now under the subscription's lock (no sweep sends a second one); one
    // Telegram refused is owed still, and the jobs send it once Telegram gives one
    if (settings.vip_channel_id !== undefined && (await kit.vipChannel.invite(user.id, { early: true })) === 'failed')
      await ctx.reply(TEXTS.inviteLater);
    // a new user's first message: the story's welcome and its first scene follow, as after any /start
    if (ctx.firstContact) await next();
  });
}

/** What a refused link's opener is told; undefined for any other failure. */
function refusalOf(error: unknown): string | undefined {
  if (isDianaError(error, SECURITY_ERROR_CODES.TOKEN_USED)) return TEXTS.tokenUsed;
  if (isDianaError(error, SECURITY_ERROR_CODES.TOKEN_EXPIRED)) return TEXTS.tokenExpired;
  if (isDianaError(error, SECURITY_ERROR_CODES.TOKEN_REVOKED)) return TEXTS.tokenWasRevoked;
  if (
    isDianaError(error, SECURITY_ERROR_CODES.TOKEN_UNKNOWN) ||
    isDianaError(error, SECURITY_ERROR_CODES.TOKEN_MALFORMED)
  )
    return TEXTS.tokenUnknown;
  return undefined;
}
