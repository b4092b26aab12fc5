// `migrate status|up`: what the bot's migrations are, and applying them.
import { DB_ERROR_CODES, migrate, migrationStatus } from '@diana/db';
import { DianaError } from '@diana/utils';
import { ALL_MIGRATIONS } from '../catalog.js';
import { confirm, DESTRUCTIVE_OPTIONS, JSON_OPTION, parse, pickSubcommand, print } from './args.js';
import { type CliContext, withDatabase } from './services.js';

export const MIGRATE_HELP = `usage: cli migrate <status|up> [options]

  migrate status [--json]          every migration: applied, pending or changed
  migrate up [--yes] [--dry-run]   apply the pending migrations (the bot also does on start)

  --json      machine-readable output
  --yes, -y   do it without asking
  --dry-run   list what would be applied, apply nothing`;

export async function migrateCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const [sub, rest] = pickSubcommand(argv, ['status', 'up'], MIGRATE_HELP);
  if (sub === 'status') {
    const { values } = parse(rest, { options: JSON_OPTION, positionals: [], help: MIGRATE_HELP });
    await withDatabase(ctx, async (db) => {
      const entries = await migrationStatus(db, ALL_MIGRATIONS);
      if (values.json) return print(entries);
      for (const entry of entries) print(`${entry.status.padEnd(8)} ${entry.source} ${entry.name}`);
    });
    return;
  }
  const { values } = parse(rest, { options: DESTRUCTIVE_OPTIONS, positionals: [], help: MIGRATE_HELP });
  await withDatabase(ctx, async (db) => {
    const entries = await migrationStatus(db, ALL_MIGRATIONS);
    // an applied file edited since: the refusal the bot's start meets (before: "nothing to apply")
    const edited = entries.filter((e) => e.status === 'changed').map((e) => `${e.source}/${e.name}`);
    if (edited.length > 0)
      throw new DianaError(
        DB_ERROR_CODES.MIGRATION_CHECKSUM,
        `applied migrations were edited: ${edited.join(', ')}. Revert the files and add a new migration instead.`,
        { context: { migrations: edited } },
      );
    const pending = entries.filter((e) => e.status === 'pending');
    if (pending.length === 0) return print('nothing to apply: every migration is applied');
    const what = `apply ${pending.length} migration(s): ${pending.map((e) => `${e.source}/${e.name}`).join(', ')}`;
    if (values['dry-run']) return print(`dry run: would ${what}`);
    await confirm(what, values, ctx.ask);
    const result = await migrate(db, ALL_MIGRATIONS, {
      statement_timeout_ms: ctx.settings.database.migration_statement_timeout_ms,
      lock_timeout_ms: ctx.settings.database.migration_lock_timeout_ms,
    });
    print(
      `applied ${result.applied.length} migration(s)${result.applied.length > 0 ? `: ${result.applied.join(', ')}` : ''}`,
    );
  });
}
