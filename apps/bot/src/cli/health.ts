// `health`: can the bot's dependencies be reached from here, and is the database ready for it.
import { durabilityRisks, migrationStatus, readDurabilitySettings } from '@diana/db';
import { DianaError, isDianaError } from '@diana/utils';
import { ALL_MIGRATIONS } from '../catalog.js';
import { BOT_ERROR_CODES } from '../errors.js';
import { readRedisSettingsRisks } from '../redis-connection.js';
import { JSON_OPTION, parse, print } from './args.js';
import { type OutboxBacklog, outboxBacklog } from './outbox.js';
import { type CliContext, openRedis, withDatabase } from './services.js';

export const HEALTH_HELP = `usage: cli health [--json]

  health [--json]   PostgreSQL (ping, and what its fsync, synchronous_commit and full_page_writes
                    risk; pending migrations, outbox backlog) and Redis (ping, and what its
                    maxmemory-policy and appendonly risk); exit 1 when one is down, a migration
                    is pending or an applied one edited

  --json   machine-readable output`;

/** One line of `health` (and `status`). */
export interface Check {
  readonly name: string;
  readonly ok: boolean;
  readonly detail: string;
}

/** What `health` found, with the figures `status` also prints. */
export interface HealthReport {
  readonly checks: Check[];
  /** Absent when PostgreSQL did not answer. */
  readonly migrations?: { readonly applied: number; readonly pending: number; readonly changed: number };
  /** Absent when PostgreSQL did not answer or a migration is not applied. */
  readonly outbox?: OutboxBacklog;
  /** Whether Redis is configured and answered its PING. */
  readonly redis_up: boolean;
}

export async function healthCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const { values } = parse(argv, { options: JSON_OPTION, positionals: [], help: HEALTH_HELP });
  const { checks } = await checkHealth(ctx);
  if (values.json) print(checks);
  else for (const c of checks) print(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(10)} ${c.detail}`);
  failIfUnhealthy(checks);
}

/** PostgreSQL (ping, migrations, outbox backlog) and Redis (ping), each a check; never throws for a backend down. */
export async function checkHealth(ctx: CliContext): Promise<HealthReport> {
  const checks: Check[] = [];
  let migrations: HealthReport['migrations'];
  let outbox: OutboxBacklog | undefined;
  let redis_up = false;
  const embedded = !ctx.settings.database.url;
  try {
    await withDatabase(ctx, async (db) => {
      const started = performance.now();
      await db.ping({ timeout_ms: 5_000 });
      const ms = Math.round(performance.now() - started);
      // what the server's settings risk, beside the answer (the bot says it at start)
      const risks = embedded ? [] : await readDurabilitySettings(db).then(durabilityRisks, () => []);
      checks.push({
        name: 'postgres',
        ok: true,
        detail: [`${embedded ? 'embedded, ' : ''}${ms} ms`, ...risks].join('; '),
      });
      const entries = await migrationStatus(db, ALL_MIGRATIONS);
      const edited = entries.filter((e) => e.status === 'changed').map((e) => `${e.source}/${e.name}`);
      const waiting = entries.filter((e) => e.status === 'pending').length;
      migrations = {
        applied: entries.filter((e) => e.status === 'applied').length,
        pending: waiting,
        changed: edited.length,
      };
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
        outbox = await outboxBacklog(db);
        checks.push({ name: 'outbox', ok: true, detail: `${outbox.unpublished} unpublished` });
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
      const ms = Math.round(performance.now() - started);
      // what the server's settings risk, beside the answer (the bot says it at start): reachable
      // is ok, a risk is the operator's to weigh
      let risks: string[] = [];
      try {
        const client = redis.command({ name: 'cli-settings' });
        await redis.ready({ timeout_ms: 5_000 });
        risks = (await readRedisSettingsRisks(client)).map((r) => r.risk);
      } catch {
        // a server that does not answer INFO (an ACL): left unchecked, as at start
      }
      await redis.close();
      redis_up = true;
      checks.push({ name: 'redis', ok: true, detail: [`${ms} ms`, ...risks].join('; ') });
    }
  } catch (error) {
    checks.push({ name: 'redis', ok: false, detail: describe(error) });
  }
  return { checks, migrations, outbox, redis_up };
}

/** E_BOT_CLI_UNHEALTHY naming the failed checks, if any failed. */
export function failIfUnhealthy(checks: readonly Check[]): void {
  const failed = checks.filter((c) => !c.ok).map((c) => c.name);
  if (failed.length > 0) throw new DianaError(BOT_ERROR_CODES.CLI_UNHEALTHY, `not healthy: ${failed.join(', ')}`);
}

export function describe(error: unknown): string {
  return isDianaError(error) ? `${error.code}: ${error.message}` : String((error as Error)?.message ?? error);
}
