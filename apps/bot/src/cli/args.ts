// What every CLI command shares: argument parsing, usage errors (exit 2), confirmation of
// destructive actions, and output on stdout.

import { createInterface } from 'node:readline/promises';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { DianaError } from '@diana/utils';
import { BOT_ERROR_CODES } from '../errors.js';

/** A mistyped command line: the entry prints one line and exits 2, nothing was done. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Help was asked for: the entry prints `text` on stdout and exits 0. */
export class HelpRequested extends Error {
  override readonly name = 'HelpRequested';
  constructor(readonly text: string) {
    super('help');
  }
}

type Options = NonNullable<ParseArgsConfig['options']>;
/** The parsed values of `O`: booleans and strings, each absent unless given. */
type Values<O extends Options> = { [K in keyof O]?: O[K]['type'] extends 'boolean' ? boolean : string };

/** Options every command takes. */
const COMMON = { help: { type: 'boolean', short: 'h' } } as const satisfies Options;
/** Options of commands that print a listing. */
export const JSON_OPTION = { json: { type: 'boolean' } } as const satisfies Options;
/** Options of destructive commands. */
export const DESTRUCTIVE_OPTIONS = {
  yes: { type: 'boolean', short: 'y' },
  'dry-run': { type: 'boolean' },
} as const satisfies Options;

/**
 * `argv` parsed strictly against `options`: an unknown option, a missing value or a wrong
 * number of positionals is a UsageError; `--help` raises HelpRequested before anything runs.
 */
export function parse<const O extends Options>(
  argv: readonly string[],
  spec: { options: O; positionals: readonly string[]; optional?: number; help: string },
): { values: Values<O>; positionals: string[] } {
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      options: { ...spec.options, ...COMMON },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    // node's message goes on with advice about '--': the first sentence is the problem
    throw new UsageError((error as Error).message.split(/\.\s/)[0] ?? 'bad arguments');
  }
  if (parsed.values.help) throw new HelpRequested(spec.help);
  const required = spec.positionals.length - (spec.optional ?? 0);
  if (parsed.positionals.length < required)
    throw new UsageError(`missing ${spec.positionals.slice(parsed.positionals.length, required).join(' ')}`);
  // a last positional named with '…' (`<ids…>`, `[dlq ids…]`) takes any number
  if (parsed.positionals.length > spec.positionals.length && !spec.positionals.at(-1)?.includes('…'))
    throw new UsageError(`unexpected argument '${parsed.positionals[spec.positionals.length]}'`);
  return { values: parsed.values as Values<O>, positionals: parsed.positionals };
}

/** The subcommand `argv[0]` among `subcommands`, or a UsageError (HelpRequested for `--help`/none). */
export function pickSubcommand<S extends string>(
  argv: readonly string[],
  subcommands: readonly S[],
  help: string,
): [S, string[]] {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    if (sub === undefined) throw new UsageError(`missing subcommand (${subcommands.join(', ')})`);
    throw new HelpRequested(help);
  }
  if (!subcommands.includes(sub as S))
    throw new UsageError(`unknown subcommand '${sub}' (expected ${subcommands.join(', ')})`);
  return [sub as S, rest];
}

/** Writes a line (or pretty JSON) on stdout. */
export function print(value: unknown): void {
  process.stdout.write(`${typeof value === 'string' ? value : JSON.stringify(value, null, 2)}\n`);
}

/** Asks the operator `question`; the answer typed, or undefined when nobody can answer (no terminal). */
export type Ask = (question: string) => Promise<string | undefined>;

/** The operator at the terminal on stdin, if stdin is one. */
export const askOnTerminal: Ask = async (question) => {
  if (!process.stdin.isTTY) return undefined;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    return await rl.question(question);
  } finally {
    rl.close();
  }
};

/**
 * Whether a destructive action may go ahead: `--yes`, or a `y` typed at the prompt when stdin
 * is a terminal. Otherwise it fails (exit 1) saying what would have happened: a script that
 * forgot `--yes` must not purge anything.
 */
export async function confirm(
  what: string,
  values: { yes?: boolean | undefined },
  ask: Ask = askOnTerminal,
): Promise<void> {
  if (values.yes) return;
  const answer = await ask(`This will ${what}. Proceed? [y/N] `);
  if (answer !== undefined && /^y(es)?$/i.test(answer.trim())) return;
  throw new DianaError(
    BOT_ERROR_CODES.CLI_NOT_CONFIRMED,
    `would ${what}: pass --yes to do it (or --dry-run to preview)`,
  );
}
