// `outbox status`: events committed in PostgreSQL and not yet on the streams (the relay's
// backlog), and, with Redis, each consumer group's lag and pending entries.
import type { Database } from '@diana/db';
import type { GroupStats } from '@diana/event-bus';
import { ALL_EVENTS } from '../catalog.js';
import { JSON_OPTION, parse, pickSubcommand, print } from './args.js';
import { type CliContext, withBus, withDatabase } from './services.js';

export const OUTBOX_HELP = `usage: cli outbox status [--json]

  outbox status [--json]   unpublished outbox rows and their age; with Redis, each group's lag and pending

  --json   machine-readable output`;

/** The relay's backlog. */
export interface OutboxBacklog {
  readonly unpublished: number;
  readonly oldest_unpublished_ms: number;
}

export async function outboxBacklog(db: Database): Promise<OutboxBacklog> {
  const [row] = await db.sql<{ unpublished: string; oldest_ms: number | null }[]>`
    select count(*)::text as unpublished,
           (extract(epoch from now() - min(created_at)) * 1000)::float8 as oldest_ms
    from event_outbox where published_at is null`;
  return { unpublished: Number(row?.unpublished ?? 0), oldest_unpublished_ms: Math.round(row?.oldest_ms ?? 0) };
}

export async function outboxCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const [, rest] = pickSubcommand(argv, ['status'], OUTBOX_HELP);
  const { values } = parse(rest, { options: JSON_OPTION, positionals: [], help: OUTBOX_HELP });
  const backlog = await withDatabase(ctx, outboxBacklog);
  // PostgreSQL's part first: with Redis down it is the part that still answers (then exit 1)
  if (!values.json) print(`outbox: ${backlog.unpublished} unpublished, oldest ${backlog.oldest_unpublished_ms} ms`);
  let groups: GroupStats[] | undefined;
  try {
    groups =
      ctx.settings.redis.url || ctx.settings.redis.cluster_nodes
        ? await withBus(ctx, async (_bus, transport) => {
            const all: GroupStats[] = [];
            for (const type of Object.keys(ALL_EVENTS)) all.push(...(await transport.groupStats(type)));
            return all;
          })
        : undefined;
  } catch (error) {
    // --json too: PostgreSQL's part still printed (groups null), then the error and exit 1
    if (values.json) print({ ...backlog, groups: null });
    throw error;
  }
  if (values.json) return print({ ...backlog, groups: groups ?? null });
  if (!groups) return print('streams: no Redis configured (the embedded bus lives in the bot process)');
  if (groups.length === 0) return print('streams: no consumer groups yet');
  for (const g of groups)
    print(`${g.type}  ${g.group}  lag=${g.lag}  pending=${g.pending}  oldest_pending=${g.oldest_pending_ms} ms`);
}
