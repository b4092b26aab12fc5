// `user show <telegram_id>`: one user's row as the bot stores it.
import { createUserRepository, DB_ERROR_CODES } from '@diana/db';
import { DianaError } from '@diana/utils';
import { JSON_OPTION, parse, pickSubcommand, print, UsageError } from './args.js';
import { type CliContext, withDatabase } from './services.js';

export const USER_HELP = `usage: cli user show <telegram_id> [--json]

  user show <telegram_id> [--json]   the user's id, role, status and dates

  --json   machine-readable output`;

export async function userCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const [, rest] = pickSubcommand(argv, ['show'], USER_HELP);
  const { values, positionals } = parse(rest, {
    options: JSON_OPTION,
    positionals: ['<telegram_id>'],
    help: USER_HELP,
  });
  const telegramId = Number(positionals[0]);
  if (!Number.isSafeInteger(telegramId) || telegramId < 1)
    throw new UsageError(`a Telegram id is a positive integer, not '${positionals[0]}'`);
  await withDatabase(ctx, async (db) => {
    const user = await createUserRepository(db).getByTelegramId(telegramId);
    if (!user) throw new DianaError(DB_ERROR_CODES.USER_NOT_FOUND, `no user with Telegram id ${telegramId}`);
    if (values.json) return print(user);
    for (const [field, value] of Object.entries(user))
      print(
        `${field.padEnd(16)} ${value instanceof Date ? value.toISOString() : typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}`,
      );
  });
}
