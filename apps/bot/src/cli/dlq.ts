// `dlq list|show|replay|purge <type>`: the dead letters of one event type on the Redis streams.
import type { DeadLetter } from '@diana/event-bus';
import { DianaError } from '@diana/utils';
import { BOT_ERROR_CODES } from '../errors.js';
import { confirm, DESTRUCTIVE_OPTIONS, JSON_OPTION, parse, pickSubcommand, print, UsageError } from './args.js';
import { type CliContext, checkEventType, withBus } from './services.js';

export const DLQ_HELP = `usage: cli dlq <list|show|replay|purge> <event type> [options]

  dlq list <type> [--json] [--limit n]              dead letters of an event type (Redis only)
  dlq show <type> <dlq id> [--json]                 one dead letter with its raw event
  dlq replay <type> [dlq ids…] [--yes] [--dry-run]  back on the stream for the group that failed
  dlq purge <type> [dlq ids…] [--yes] [--dry-run]   delete them (without ids: all it lists, up to 10 000)

  --json      machine-readable output
  --yes, -y   do it without asking
  --dry-run   say what would be replayed or purged, change nothing`;

const line = (d: DeadLetter) => `${d.dlq_id}  ${d.group}  attempts=${d.attempts}  ${d.failed_at}  ${d.error}`;

/** The most dead letters one listing reads (and `show` scans for an id). */
const DLQ_LIST_MAX = 10_000;

export async function dlqCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const [sub, rest] = pickSubcommand(argv, ['list', 'show', 'replay', 'purge'], DLQ_HELP);
  if (sub === 'list') {
    const { values, positionals } = parse(rest, {
      options: { ...JSON_OPTION, limit: { type: 'string' } },
      positionals: ['<event type>'],
      help: DLQ_HELP,
    });
    const limit = values.limit === undefined ? 100 : Number(values.limit);
    if (!Number.isInteger(limit) || limit < 1 || limit > DLQ_LIST_MAX)
      throw new UsageError(`--limit must be an integer from 1 to ${DLQ_LIST_MAX}`);
    const type = checkEventType(positionals[0] as string);
    await withBus(ctx, async (bus) => {
      const letters = await bus.dlq.list(type, limit);
      if (values.json) return print(letters);
      if (letters.length === 0) return print(`no dead letters for ${type}`);
      for (const letter of letters) print(line(letter));
    });
    return;
  }
  if (sub === 'show') {
    const { values, positionals } = parse(rest, {
      options: JSON_OPTION,
      positionals: ['<event type>', '<dlq id>'],
      help: DLQ_HELP,
    });
    const type = checkEventType(positionals[0] as string);
    await withBus(ctx, async (bus) => {
      // the transport lists by type only: a bounded scan for the id
      const letter = (await bus.dlq.list(type, DLQ_LIST_MAX)).find((d) => d.dlq_id === positionals[1]);
      if (!letter) throw new DianaError(BOT_ERROR_CODES.CLI_NOT_FOUND, `no dead letter ${positionals[1]} for ${type}`);
      if (values.json) return print(letter);
      print(line(letter));
      print(`original event ${letter.original_id}: ${letter.raw ?? '(raw event not kept)'}`);
    });
    return;
  }
  const { values, positionals } = parse(rest, {
    options: DESTRUCTIVE_OPTIONS,
    positionals: ['<event type>', '[dlq ids…]'],
    optional: 1,
    help: DLQ_HELP,
  });
  const [rawType, ...ids] = positionals as [string, ...string[]];
  const type = checkEventType(rawType);
  await withBus(ctx, async (bus) => {
    const letters = await bus.dlq.list(type, DLQ_LIST_MAX);
    const chosen = ids.length > 0 ? letters.filter((d) => ids.includes(d.dlq_id)) : letters;
    const missing = ids.filter((id) => !letters.some((d) => d.dlq_id === id));
    if (missing.length > 0)
      throw new DianaError(BOT_ERROR_CODES.CLI_NOT_FOUND, `no dead letter ${missing.join(', ')} for ${type}`);
    if (chosen.length === 0) return print(`no dead letters for ${type}: nothing to ${sub}`);
    const more =
      ids.length === 0 && letters.length === DLQ_LIST_MAX
        ? ` (the oldest ${DLQ_LIST_MAX}: run it again for the rest)`
        : '';
    const what = `${sub} ${chosen.length} dead letter(s) of ${type}${more}`;
    if (values['dry-run']) {
      print(`dry run: would ${what}`);
      for (const letter of chosen) print(line(letter));
      return;
    }
    await confirm(what, values, ctx.ask);
    // exactly the letters listed and confirmed, by id: "all of the type" at this point would take
    // letters dead-lettered while the prompt waited, which the operator never saw (before, purge
    // without ids deleted them and counted them in "purged n")
    const listed = chosen.map((d) => d.dlq_id);
    const done = sub === 'replay' ? await bus.dlq.replay(type, listed) : await bus.dlq.purge(type, listed);
    print(`${sub === 'replay' ? 'replayed' : 'purged'} ${done}`);
  });
}
