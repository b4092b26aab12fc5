// /auditoria [n]: the last staff actions (admin_audit), newest first, in plain Spanish.
import { ROLE_LABELS } from '@diana/security';
import type { Composer } from 'grammy';
import { type AdminContext, type AdminKit, shownName } from '../kit.js';
import { TEXTS } from '../texts.js';
import { formatHumanMoment } from '../time.js';
import { shortPostId } from './posts.js';

interface Row {
  action: string;
  actor: string;
  target: string | null;
  reason: string;
  details: Record<string, unknown>;
  created_at: Date;
  actor_name: string | null;
  target_name: string | null;
  target_tg: string | null;
}

export function registerAudit(composer: Composer<AdminContext>, kit: AdminKit): void {
  const { db, settings } = kit;
  composer.command(
    'auditoria',
    kit.guarded('view_stats', async (ctx, [count]) => {
      const limit = count && /^\d{1,2}$/.test(count) && Number(count) >= 1 ? Math.min(Number(count), 50) : 10;
      // users named by their Telegram id in actor ("tg:<id>") and by their row id in target
      const rows = await db.sql<Row[]>`
        select a.action, a.actor, a.target, a.reason, a.details, a.created_at,
               au.first_name as actor_name, tu.first_name as target_name, tu.telegram_id::text as target_tg
        from (select * from admin_audit order by created_at desc, id desc limit ${limit}) a
        -- case, not and: the cast runs only on text that has the form (and the indexes serve)
        left join users au on au.telegram_id =
          case when a.actor ~ '^tg:[0-9]{1,18}$' then substr(a.actor, 4)::bigint end
        left join users tu on tu.id =
          case when a.target ~ '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then a.target::uuid end
        order by a.created_at desc, a.id desc`;
      if (rows.length === 0) return ctx.reply(TEXTS.auditEmpty);
      const now = kit.now();
      const lines = rows.map((r) => {
        const who =
          r.actor === 'system'
            ? TEXTS.auditSystem
            : r.actor_name
              ? `${shownName(r.actor_name)} (${r.actor.slice(3)})`
              : r.actor.replace(/^tg:/, '');
        const target = r.target_name
          ? `${shownName(r.target_name)} (${r.target_tg})`
          : r.action.endsWith('_post')
            ? shortPostId(r.target ?? '')
            : (r.target ?? '');
        const details = { ...r.details };
        for (const k of ['from', 'to'] as const)
          if (typeof details[k] === 'string' && r.action !== 'config_rollback')
            details[k] = (ROLE_LABELS as Record<string, string>)[details[k] as string] ?? details[k];
        return TEXTS.auditLine(
          formatHumanMoment(r.created_at, settings.timezone, now),
          who,
          TEXTS.auditWhat(r.action, target, details),
          r.reason.startsWith('via /') ? '' : r.reason,
        );
      });
      await kit.replyPaged(ctx, [TEXTS.auditHeader(rows.length), ...lines].join('\n'));
    }),
  );
}
