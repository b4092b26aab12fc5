// /stats: the bot at a glance, in sentences — users, VIP, staff by role, besitos (when the app
// gives a port for it; this module never reads gamification's tables), the event queues and the
// events that failed for good (dead letters).
import { USER_ROLES, type UserRole } from '@diana/db';
import type { Composer } from 'grammy';
import type { AdminContext, AdminKit } from '../kit.js';
import { TEXTS } from '../texts.js';

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
      await kit.replyPaged(ctx, lines.join('\n'));
    }),
  );
}
