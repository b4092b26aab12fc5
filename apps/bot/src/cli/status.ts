// `status`: one summary for an operator — the health checks (PostgreSQL, migrations, outbox
// backlog, Redis) with their figures, and the dead letters waiting per event type.
import { ALL_EVENTS } from '../catalog.js';
import { JSON_OPTION, parse, print } from './args.js';
import { type Check, checkHealth, describe, failIfUnhealthy } from './health.js';
import { type CliContext, withBus } from './services.js';

export const STATUS_HELP = `usage: cli status [--json]

  status [--json]   migrations applied and pending, outbox backlog, PostgreSQL and Redis
                    health, dead letters per event type (with Redis); exit 1 as health does
                    (a backend down, a migration pending or edited), never for dead letters

  --json   machine-readable output`;

/** Dead letters waiting, per event type that has any. */
interface DeadLetterCounts {
  readonly total: number;
  readonly by_type: Record<string, number>;
}

export async function statusCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const { values } = parse(argv, { options: JSON_OPTION, positionals: [], help: STATUS_HELP });
  const report = await checkHealth(ctx);
  const checks: Check[] = [...report.checks];
  let deadLetters: DeadLetterCounts | null = null;
  // one XLEN per type and partition: cheap; only once Redis answered its PING
  if (report.redis_up) {
    try {
      deadLetters = await withBus(ctx, async (_bus, transport) => {
        const by_type: Record<string, number> = {};
        let total = 0;
        for (const type of Object.keys(ALL_EVENTS)) {
          const count = await transport.countDeadLetters(type);
          if (count > 0) by_type[type] = count;
          total += count;
        }
        return { total, by_type };
      });
    } catch (error) {
      checks.push({ name: 'dead letters', ok: false, detail: describe(error) });
    }
  }
  if (values.json) {
    print({
      checks,
      migrations: report.migrations ?? null,
      outbox: report.outbox ?? null,
      dead_letters: deadLetters,
    });
  } else {
    for (const c of checks) print(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(12)} ${detail(c, report)}`);
    if (deadLetters) {
      const types = Object.entries(deadLetters.by_type).map(([type, n]) => `${type} ${n}`);
      print(
        `     ${'dead letters'.padEnd(12)} ${deadLetters.total}${types.length > 0 ? ` (${types.join(', ')})` : ''}`,
      );
    }
  }
  failIfUnhealthy(checks);
}

/** A health line with the figures status adds. */
function detail(check: Check, report: Awaited<ReturnType<typeof checkHealth>>): string {
  const m = report.migrations;
  if (check.name === 'migrations' && m)
    return `${m.applied} applied, ${m.pending} pending${m.changed > 0 ? `, ${m.changed} edited` : ''}${check.ok ? '' : `: ${check.detail}`}`;
  if (check.name === 'outbox' && report.outbox)
    return `${report.outbox.unpublished} unpublished, oldest ${report.outbox.oldest_unpublished_ms} ms`;
  return check.detail;
}
