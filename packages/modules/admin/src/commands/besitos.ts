// Besitos adjustments: /besitos grants, /quitar_besitos takes (at most the balance). The
// gamification module pays them from `admin.besitos_granted` and reports back with
// `gamification.adjustment_applied`, which this module tells the admin who asked.
import type { EventEnvelope, HandlerContext, ModuleSubscription } from '@diana/event-bus';
import { BESITOS_ERROR_CODES, BESITOS_MAX, type BesitosRefusal, isDianaError, parseBesitos } from '@diana/utils';
import type { Composer } from 'grammy';
import * as v from 'valibot';
import { cutText } from '../cut.js';
import { type AdminContext, type AdminKit, displayName } from '../kit.js';
import { TEXTS } from '../texts.js';

/** Registers /besitos and /quitar_besitos; returns the subscription that reports what was done. */
export function registerBesitos(composer: Composer<AdminContext>, kit: AdminKit): ModuleSubscription[] {
  const { db, users, deps } = kit;
  const bus = deps.bus;

  /** `/besitos` grants, `/quitar_besitos` takes (at most the balance): one plain amount each. */
  const adjust = (sign: 1 | -1, usage: string) =>
    kit.guarded('grant_besitos', async (ctx, [ref, amountText, ...words]) => {
      if (!ref || amountText === undefined || words.length === 0) return ctx.reply(TEXTS.usage(usage));
      let amount: number;
      try {
        // digits 0-9 only, 1..BESITOS_MAX: Number() took 1e21 and 0x10 and rounded 9007199254740993
        amount = sign * parseBesitos(amountText);
      } catch (error) {
        if (!isDianaError(error, BESITOS_ERROR_CODES.INVALID)) throw error;
        const why = (error.context as { reason: BesitosRefusal }).reason;
        return ctx.reply(TEXTS.badAmount(cutText(amountText, 40), why, BESITOS_MAX));
      }
      const reason = await kit.reasonOf(ctx, words);
      if (reason === undefined) return;
      const target = await kit.findUser(ctx, ref);
      if (!target) return;
      await db.transaction(async () => {
        await kit.audit({
          actor: kit.actorOf(ctx),
          action: 'grant_besitos',
          target: target.id,
          reason,
          details: { amount },
          // a redelivered update finds this row: nothing granted twice (guarded answers it)
          update_id: kit.updateOf(ctx),
        });
        await bus.publish(
          'admin.besitos_granted',
          { user_id: target.id, amount, reason, actor: kit.actorOf(ctx) },
          { key: target.id },
        );
      });
      await ctx.reply(TEXTS.granted(amount, displayName(target)));
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
      // the bus passes its handler context (`ctx.signal`) though ModuleSubscription names only the event
      handler: async (event: EventEnvelope, ctx?: HandlerContext) => {
        const { user_id, requested, applied, balance, actor } = v.parse(adjustmentApplied, event.payload);
        const chat = /^tg:(\d+)$/.exec(actor)?.[1];
        if (!chat) return;
        // claimed before the send: a retry (this attempt timed out while Telegram held the send, a
        // 429's retry_after) or a redelivery tells nothing twice; a crash in between loses it
        const claimed = await db.sql`
          insert into admin_told_events (event_id, told_at) values (${event.id}, ${kit.now()}) on conflict do nothing returning 1`;
        if (claimed.length === 0) return;
        const target = await users.getById(user_id);
        // aborted with the attempt (handler_timeout_ms): the send ends with it, never beside a retry
        await kit.send(
          Number(chat),
          TEXTS.adjustmentApplied(target ? displayName(target) : user_id, requested, applied, balance),
          ctx?.signal,
        );
      },
    },
  ];
  composer.command('quitar_besitos', adjust(-1, '/quitar_besitos <id de Telegram> <cantidad> <motivo>'));
  return subscriptions;
}
