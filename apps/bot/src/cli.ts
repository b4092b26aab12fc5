// The operator CLI (`pnpm cli <command>`): parses the command line, runs one command against
// the bot's settings, and turns the outcome into an exit code: 0 done, 1 failed (one line on
// stderr naming the error code), 2 mistyped (one line on stderr, nothing done).
import { createLogger, isDianaError } from '@diana/utils';
import { HelpRequested, print, UsageError } from './cli/args.js';
import { CONFIG_HELP, configCommand } from './cli/config.js';
import { DLQ_HELP, dlqCommand } from './cli/dlq.js';
import { HEALTH_HELP, healthCommand } from './cli/health.js';
import { MIGRATE_HELP, migrateCommand } from './cli/migrate.js';
import { OUTBOX_HELP, outboxCommand } from './cli/outbox.js';
import type { CliContext } from './cli/services.js';
import { STATUS_HELP, statusCommand } from './cli/status.js';
import { USER_HELP, userCommand } from './cli/user.js';
import { loadAppSettings } from './config.js';

const COMMANDS = {
  migrate: { run: migrateCommand, help: MIGRATE_HELP },
  dlq: { run: dlqCommand, help: DLQ_HELP },
  config: { run: configCommand, help: CONFIG_HELP },
  user: { run: userCommand, help: USER_HELP },
  outbox: { run: outboxCommand, help: OUTBOX_HELP },
  health: { run: healthCommand, help: HEALTH_HELP },
  status: { run: statusCommand, help: STATUS_HELP },
} as const;
type CommandName = keyof typeof COMMANDS;

// how the operator started it: from the workspace (`pnpm cli`, the source through tsx) or from a
// deployed folder (`node dist/cli.js`), so the usage lines name what they typed
const INVOKED = process.argv[1]?.endsWith('.ts') ? 'pnpm cli' : 'node dist/cli.js';

const HELP = `usage: ${INVOKED} <command> [options]     (${INVOKED} <command> --help for one command)

  migrate status|up            the database migrations
  dlq list|show|replay|purge   dead letters of an event type (Redis)
  config get|set|history|rollback   live settings (what admin's /config edits)
  user show <telegram_id>      one user
  outbox status                events not yet relayed, consumer group lag
  health                       PostgreSQL, Redis, migrations
  status                       one summary: migrations, outbox, health, dead letters

It uses the bot's settings: DIANA_DATABASE_URL (unset: the embedded database in
DIANA_BOT_DATA_DIR, .diana by default) and DIANA_REDIS_URL (unset: no streams).
Destructive commands need --yes (or a y at the prompt) and take --dry-run.
Exit codes: 0 done, 1 failed (one line on stderr), 2 wrong command line (nothing done).`;

const isCommand = (name: string | undefined): name is CommandName =>
  name !== undefined && Object.hasOwn(COMMANDS, name);

async function main(args: readonly string[]): Promise<number> {
  // `pnpm cli -- health` hands the `--` on (npm's habit of separating a script's arguments)
  const argv = args[0] === '--' ? args.slice(1) : args;
  const [name, ...rest] = argv;
  try {
    if (name === undefined) throw new UsageError('missing command');
    if (name === '--help' || name === '-h') throw new HelpRequested(HELP);
    if (name === 'help') {
      if (rest.length === 0) throw new HelpRequested(HELP);
      if (rest.length > 1 || !isCommand(rest[0])) throw new UsageError(`no help for '${rest.join(' ')}'`);
      throw new HelpRequested(COMMANDS[rest[0]].help);
    }
    if (!isCommand(name)) throw new UsageError(`unknown ${name.startsWith('-') ? 'option' : 'command'} '${name}'`);
    // every log line would break "one line on stderr": failures surface as the thrown error
    const ctx: CliContext = {
      settings: loadAppSettings(),
      logger: createLogger({ level: 'silent', destination: process.stderr }),
    };
    await COMMANDS[name].run(ctx, rest);
    return 0;
  } catch (error) {
    if (error instanceof HelpRequested) {
      // each command's usage is written as `cli <command>`: named here the way it was started
      print(error.text.replace(/^usage: cli /, `usage: ${INVOKED} `));
      return 0;
    }
    if (error instanceof UsageError) {
      process.stderr.write(`cli: ${error.message} (${INVOKED} --help for usage)\n`);
      return 2;
    }
    const message = ((error as Error)?.message ?? String(error)).split('\n')[0];
    process.stderr.write(`cli: ${isDianaError(error) ? `${error.code}: ` : ''}${message}\n`);
    return 1;
  }
}

// A reader that stops early (`| head -1`) closes the pipe: that ends the output, as it ends any
// Unix tool's, not the command with a stack trace (the write's EPIPE was an unhandled 'error').
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
  process.exit(0);
});

// exit at once: a client the command forgot to close must not keep an operator's shell waiting
process.exit(await main(process.argv.slice(2)));
