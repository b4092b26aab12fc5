// /dlq list|replay|purge <type>: the event bus's dead letters. A purge deletes for good, so it
// asks first: `/dlq purge <type>` says how many and what to type, `… confirmar <last id>` purges
// the letters it counted (the oldest PURGE_MAX, up to the last one it named), not ones that
// came since.
import { EVENT_BUS_ERROR_CODES } from '@diana/event-bus';
import { isDianaError } from '@diana/utils';
import type { Composer } from 'grammy';
import { type AdminContext, type AdminKit, AlreadyHandled } from '../kit.js';
import { TEXTS } from '../texts.js';

/** Most dead letters one `/dlq purge` confirmation deletes (the oldest). */
const PURGE_MAX = 1_000;

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
  const purgedBy = async (ctx: AdminContext) => {
    const rows =
      await db.sql`select 1 from admin_audit where action = 'dlq_purge' and update_id = ${kit.updateOf(ctx)}`;
    return rows.length > 0;
  };
  composer.command(
    'dlq',
    kit.guarded('replay_dlq', async (ctx, [sub, type, confirm, upTo]) => {
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
        // a confirmation sent again finds its letters gone: "Ya estaba hecho", not a new question
        if (confirm === 'confirmar' && (await purgedBy(ctx))) throw new AlreadyHandled(kit.updateOf(ctx));
        const letters = await known(() => bus.dlq.list(type as never, PURGE_MAX));
        if (!letters) return;
        if (letters.length === 0) return ctx.reply(TEXTS.dlqEmpty(type));
        // what a confirmation deletes: the letters up to the last one the question named (oldest
        // first). Before, the question counted up to 1 000 and `confirmar` deleted every letter of
        // the type, those that came since included (a reviewer's 1 000 asked, 1 200 deleted).
        const named = confirm === 'confirmar' && upTo ? letters.findIndex((l) => l.dlq_id === upTo) : -1;
        if (named < 0) {
          const total =
            letters.length < PURGE_MAX
              ? letters.length
              : ((await bus.dlq.counts()).find((c) => c.type === type)?.count ?? letters.length);
          const ask = TEXTS.dlqPurgeAsk(type, letters.length, total, letters.at(-1)?.dlq_id as string);
          // a confirmation whose letter is gone (purged or replayed since): asked again
          return ctx.reply(confirm === 'confirmar' ? `${TEXTS.dlqPurgeChanged}\n${ask}` : ask);
        }
        const ids = letters.slice(0, named + 1).map((l) => l.dlq_id);
        // a purge sent again would find its letters gone: once per update all the same
        const purged = await known(() =>
          onceForUpdate(ctx, 'dlq_purge', type, () => bus.dlq.purge(type as never, ids)),
        );
        if (purged === undefined) return;
        return ctx.reply(TEXTS.dlqPurged(purged));
      }
      const replayed = await known(() => onceForUpdate(ctx, 'dlq_replay', type, () => bus.dlq.replay(type as never)));
      if (replayed === undefined) return;
      await ctx.reply(TEXTS.replayed(replayed));
    }),
  );
}
