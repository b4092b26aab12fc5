// `health`: can the bot's dependencies be reached from here, and is the database ready for it.
import { migrationStatus } from '@diana/db';
import { DianaError, isDianaError } from '@diana/utils';
import { ALL_MIGRATIONS } from '../catalog.js';
import { BOT_ERROR_CODES } from '../errors.js';
import { JSON_OPTION, parse, print } from './args.js';
import { outboxBacklog } from './outbox.js';
import { type CliContext, openRedis, withDatabase } from './services.js';

export const HEALTH_HELP = `usage: cli health [--json]

  health [--json]   PostgreSQL (ping, pending migrations, outbox backlog) and Redis (ping);
                    exit 1 when one is down, a migration is pending or an applied one edited

  --json   machine-readable output`;

interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

export async function healthCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const { values } = parse(argv, { options: JSON_OPTION, positionals: [], help: HEALTH_HELP });
  const checks: Check[] = [];
  const embedded = !ctx.settings.database.url;
  try {
    await withDatabase(ctx, async (db) => {
      const started = performance.now();
      await db.ping({ timeout_ms: 5_000 });
      checks.push({
        name: 'postgres',
        ok: true,
        detail: `${embedded ? 'embedded, ' : ''}${Math.round(performance.now() - started)} ms`,
      });
      const entries = await migrationStatus(db, ALL_MIGRATIONS);
      const edited = entries.filter((e) => e.status === 'changed').map((e) => `${e.source}/${e.name}`);
      const waiting = entries.filter((e) => e.status === 'pending').length;
      // an edited one is not "not applied": migrate up refuses it, as the bot's start does
      const problems = [
        ...(edited.length > 0
          ? [
              `${edited.length} edited after being applied: ${edited.join(', ')} (revert the files; add a new migration)`,
            ]
          : []),
        ...(waiting > 0 ? [`${waiting} not applied (cli migrate up)`] : []),
      ];
      checks.push({
        name: 'migrations',
        ok: problems.length === 0,
        detail: problems.length === 0 ? 'all applied' : problems.join('; '),
      });
      // the outbox table comes with the migrations: nothing to count before them
      if (problems.length === 0) {
        const backlog = await outboxBacklog(db);
        checks.push({ name: 'outbox', ok: true, detail: `${backlog.unpublished} unpublished` });
      }
    });
  } catch (error) {
    checks.push({ name: 'postgres', ok: false, detail: describe(error) });
  }
  try {
    const started = performance.now();
    const redis = await openRedis(ctx);
    if (!redis) checks.push({ name: 'redis', ok: true, detail: 'not configured (memory adapters)' });
    else {
      await redis.close();
      checks.push({ name: 'redis', ok: true, detail: `${Math.round(performance.now() - started)} ms` });
    }
  } catch (error) {
    checks.push({ name: 'redis', ok: false, detail: describe(error) });
  }
  if (values.json) print(checks);
  else for (const c of checks) print(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(10)} ${c.detail}`);
  const failed = checks.filter((c) => !c.ok).map((c) => c.name);
  if (failed.length > 0) throw new DianaError(BOT_ERROR_CODES.CLI_UNHEALTHY, `not healthy: ${failed.join(', ')}`);
}

function describe(error: unknown): string {
  return isDianaError(error) ? `${error.code}: ${error.message}` : String((error as Error)?.message ?? error);
}
