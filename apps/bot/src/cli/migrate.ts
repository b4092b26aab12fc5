// `migrate status|up`: what the bot's migrations are, and applying them.
import { migrate, migrationStatus } from '@diana/db';
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
    const pending = (await migrationStatus(db, ALL_MIGRATIONS)).filter((e) => e.status === 'pending');
    if (pending.length === 0) return print('nothing to apply: every migration is applied');
    const what = `apply ${pending.length} migration(s): ${pending.map((e) => `${e.source}/${e.name}`).join(', ')}`;
    if (values['dry-run']) return print(`dry run: would ${what}`);
    await confirm(what, values);
    const result = await migrate(db, ALL_MIGRATIONS, {
      statement_timeout_ms: ctx.settings.database.migration_statement_timeout_ms,
      lock_timeout_ms: ctx.settings.database.migration_lock_timeout_ms,
    });
    print(
      `applied ${result.applied.length} migration(s)${result.applied.length > 0 ? `: ${result.applied.join(', ')}` : ''}`,
    );
  });
}
