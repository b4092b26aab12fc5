// /cancelar_vip: staff end a running VIP subscription before its time (a refund, abuse). Like
// an expiry, in one transaction under the subscription's lock: status 'cancelled', a VIP
// member's role back to FREE, the audit row with the reason, `admin.subscription_expired` (the
// story closes its VIP levels); then out of the VIP channel, and the member is told.
import type { Composer } from 'grammy';
import { type AdminContext, type AdminKit, displayName } from '../kit.js';
import { TEXTS } from '../texts.js';
import { formatHumanDate } from '../time.js';

export function registerCancelVip(composer: Composer<AdminContext>, kit: AdminKit): void {
  const { db, settings } = kit;
  const bus = kit.deps.bus;
  composer.command(
    'cancelar_vip',
    kit.guarded('manage_subscriptions', async (ctx, [ref, ...words]) => {
      if (!ref || words.length === 0) return ctx.reply(TEXTS.usage(TEXTS.help.cancelar_vip?.[0] ?? '/cancelar_vip'));
      const reason = await kit.reasonOf(ctx, words);
      if (reason === undefined) return;
      const target = await kit.findUser(ctx, ref);
      if (!target) return;
      const at = kit.now();
      const cancelled = await db.transaction(async (tx) => {
        const [sub] = await tx<{ ends_at: Date; status: string }[]>`
          select s.ends_at, u.status from admin_subscriptions s join users u on u.id = s.user_id
          where s.user_id = ${target.id} and s.status = 'active' and s.ends_at > ${at}
          for update of s`;
        if (!sub) return undefined;
        await tx`
          update admin_subscriptions set status = 'cancelled', expired_at = ${at},
            removal_due_at = ${kit.vipChannel.id === undefined ? null : at}, removal_attempts = 0, removal_error = null
          where user_id = ${target.id}`;
        const dropped = await kit.switchVip(target.id, 'FREE');
        await kit.audit({
          actor: kit.actorOf(ctx),
          action: 'subscription_cancelled',
          target: target.id,
          reason,
          details: { ends_at: sub.ends_at.toISOString() },
          update_id: kit.updateOf(ctx),
        });
        await bus.publish('admin.subscription_expired', { user_id: target.id }, { key: target.id });
        return { ...sub, dropped };
      });
      if (!cancelled) return ctx.reply(TEXTS.noRunningVip(displayName(target)));
      if (cancelled.dropped) await kit.roleChanged(target.telegram_id);
      // staff are told what happened: out of the channel, or not yet (the jobs try again)
      const removal = await kit.vipChannel.remove(target.id);
      if (removal !== 'renewed' && cancelled.status === 'active')
        await kit.send(target.telegram_id, TEXTS.vipCancelledToMember);
      await ctx.reply(
        TEXTS.vipCancelled(
          displayName(target),
          formatHumanDate(cancelled.ends_at, settings.timezone, at),
          cancelled.dropped,
          removal,
        ),
      );
    }),
  );
}
