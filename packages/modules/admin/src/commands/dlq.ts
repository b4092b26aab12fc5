// /dlq list|replay|purge <type>: the event bus's dead letters. A purge deletes for good, so it
// asks first: `/dlq purge <type>` says how many and what to type, `… confirmar` purges.
import { EVENT_BUS_ERROR_CODES } from '@diana/event-bus';
import { isDianaError } from '@diana/utils';
import type { Composer } from 'grammy';
import type { AdminContext, AdminKit } from '../kit.js';
import { TEXTS } from '../texts.js';

export function registerDlq(composer: Composer<AdminContext>, kit: AdminKit): void {
  const { deps, db } = kit;
  const bus = deps.bus;
  /**
   * A replay or purge (in Redis, outside any transaction) for this update only: its audit row is
   * written first and held uncommitted while Redis works, then given the count. The same update
   * sent again finds the row (or waits for it) and does nothing (`AlreadyHandled`); an unknown
   * type or a failure rolls the row back.
   */
  const onceForUpdate = (ctx: AdminContext, action: string, type: string, work: () => Promise<number>) =>
    db.transaction(async (tx) => {
      const id = await kit.audit({ actor: kit.actorOf(ctx), action, target: type, update_id: kit.updateOf(ctx) });
      const count = await work();
      const details = JSON.stringify(action === 'dlq_purge' ? { purged: count } : { replayed: count });
      await tx`update admin_audit set details = ${details}::text::jsonb where id = ${id}`;
      return count;
    });
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
        // a purge sent again would delete letters that came since: once per update
        const purged = await known(() => onceForUpdate(ctx, 'dlq_purge', type, () => bus.dlq.purge(type as never)));
        if (purged === undefined) return;
        return ctx.reply(TEXTS.dlqPurged(purged));
      }
      const replayed = await known(() => onceForUpdate(ctx, 'dlq_replay', type, () => bus.dlq.replay(type as never)));
      if (replayed === undefined) return;
      await ctx.reply(TEXTS.replayed(replayed));
    }),
  );
}
