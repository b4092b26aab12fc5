// /stats: the bot at a glance, in sentences — users, VIP, staff by role, besitos (when the app
// gives a port for it; this module never reads gamification's tables), the event queues, the
// events that failed for good (dead letters) and the VIP channel calls Telegram keeps refusing.
import { USER_ROLES, type UserRole } from '@diana/db';
import type { Composer } from 'grammy';
import { SAY_AT_ERROR } from '../channel.js';
import { cutText } from '../cut.js';
import type { AdminContext, AdminKit } from '../kit.js';
import { TEXTS } from '../texts.js';
import { FAILURE_SHOWN } from './posts.js';

/** The most VIP channel calls Telegram keeps refusing that /stats lists (the total is said). */
const STUCK_SHOWN = 5;

export function registerStats(composer: Composer<AdminContext>, kit: AdminKit): void {
  const { db, deps, users } = kit;
  composer.command(
    'stats',
    kit.guarded('view_stats', async (ctx) => {
      const [row] = await db.sql<{ users: number; vip: number }[]>`
        select (select count(*)::int from users) as users,
               (select count(*)::int from admin_subscriptions where status = 'active' and ends_at > ${kit.now()}) as vip`;
      const byRole = await users.countByRole();
      const roles = (USER_ROLES as readonly UserRole[])
        .filter((role) => (byRole[role] ?? 0) > 0)
        .map((role) => TEXTS.roleCount(role, byRole[role] ?? 0));
      const lines = [TEXTS.statsUsers(row?.users ?? 0, row?.vip ?? 0)];
      if (roles.length > 0) lines.push(TEXTS.statsRoles(roles));
      if (deps.besitosInCirculation)
        try {
          lines.push(TEXTS.statsBesitos(await deps.besitosInCirculation()));
        } catch (error) {
          kit.logger.warn({ err: error }, 'besitosInCirculation failed; /stats leaves it out');
        }
      const health = await deps.bus.health();
      const behind = health.groups.filter((g) => g.lag > 0 || g.pending > 0);
      if (health.error) lines.push(TEXTS.statsEventsError);
      else if (behind.length === 0) lines.push(TEXTS.statsEventsOk);
      else
        lines.push(TEXTS.statsEventsBehind(behind.map((g) => TEXTS.statsEventLine(g.group, g.type, g.lag, g.pending))));
      // events a handler gave up on (besitos, rewards, notices not delivered): staff see them here,
      // not only in the logs and /metrics
      if (!health.error)
        try {
          const letters = await deps.bus.dlq.counts();
          if (letters.length > 0) lines.push(TEXTS.statsDeadLetters(letters));
        } catch (error) {
          kit.logger.warn({ err: error }, 'counting dead letters failed; /stats leaves them out');
        }
      // VIP channel calls Telegram keeps refusing (a right the bot lacks, a member it will not
      // ban): the jobs go on trying, and staff see them here with Telegram's answer
      const stuck = await stuckChannelCalls(kit);
      if (stuck.length > 0)
        lines.push(
          TEXTS.statsChannelStuck(
            stuck.map((row) =>
              TEXTS.statsChannelStuckLine(
                row.what,
                row.telegram_id,
                row.attempts,
                row.error === null ? null : cutText(row.error, FAILURE_SHOWN),
              ),
            ),
            stuck[0]?.total ?? stuck.length,
          ),
        );
      await kit.replyPaged(ctx, lines.join('\n'));
    }),
  );
}

/**
 * The VIP channel calls owed after SAY_AT_ERROR failed tries, the most tried first (at most
 * STUCK_SHOWN, each row with the total). Only calls that will be made: none without a channel, no
 * invite for a subscription that has ended (its row keeps the owed invite until the jobs reach it:
 * a first version listed a cancelled member's invite until then).
 */
async function stuckChannelCalls(kit: AdminKit) {
  if (kit.vipChannel.id === undefined) return [];
  return kit.db.sql<
    { telegram_id: string; what: 'removal' | 'invite'; attempts: number; error: string | null; total: number }[]
  >`
    with stuck as (
      select user_id, 'removal' as what, removal_attempts as attempts, removal_error as error
      from admin_subscriptions where removal_due_at is not null and removal_attempts >= ${SAY_AT_ERROR}
      union all
      select user_id, 'invite', invite_attempts, invite_error
      from admin_subscriptions where invite_due_at is not null and invite_attempts >= ${SAY_AT_ERROR}
        and status = 'active' and ends_at > ${kit.now()})
    select u.telegram_id::text, stuck.what, stuck.attempts, stuck.error, (count(*) over ())::int as total
    from stuck join users u on u.id = stuck.user_id
    order by stuck.attempts desc, u.telegram_id limit ${STUCK_SHOWN}`;
}
