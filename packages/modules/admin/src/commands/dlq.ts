// /dlq list|replay|purge <type>: the event bus's dead letters. A purge deletes for good, so it
// asks first: `/dlq purge <type>` says how many and what to type, `… confirmar` purges.
import { EVENT_BUS_ERROR_CODES } from '@diana/event-bus';
import { isDianaError } from '@diana/utils';
import type { Composer } from 'grammy';
import type { AdminContext, AdminKit } from '../kit.js';
import { TEXTS } from '../texts.js';

export function registerDlq(composer: Composer<AdminContext>, kit: AdminKit): void {
  const { deps } = kit;
  const bus = deps.bus;
  composer.command(
    'dlq',
    kit.guarded('replay_dlq', async (ctx, [sub, type, confirm]) => {
      if (!type || !['list', 'replay', 'purge'].includes(sub ?? '')) return ctx.reply(TEXTS.usage(TEXTS.dlqUsage));
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
        return kit.replyPaged(
          ctx,
          letters.length === 0
            ? TEXTS.dlqEmpty(type)
            : letters.map((l) => `${l.dlq_id} ${l.group}: ${l.error}`).join('\n'),
        );
      }
      if (sub === 'purge') {
        if (confirm !== 'confirmar') {
          // counted up to 1000: the admin sees what a confirmation would delete
          const letters = await known(() => bus.dlq.list(type as never, 1_000));
          if (!letters) return;
          return ctx.reply(letters.length === 0 ? TEXTS.dlqEmpty(type) : TEXTS.dlqPurgeAsk(type, letters.length));
        }
        const purged = await known(() => bus.dlq.purge(type as never));
        if (purged === undefined) return;
        await kit.audit({ actor: kit.actorOf(ctx), action: 'dlq_purge', target: type, details: { purged } });
        return ctx.reply(TEXTS.dlqPurged(purged));
      }
      const replayed = await known(() => bus.dlq.replay(type as never));
      if (replayed === undefined) return;
      await kit.audit({ actor: kit.actorOf(ctx), action: 'dlq_replay', target: type, details: { replayed } });
      await ctx.reply(TEXTS.replayed(replayed));
    }),
  );
}
