// `config get|set|history|rollback`: the live settings ConfigManager holds (what admin's
// /config edits), changed through the same drafts, publishes and rollbacks.
import { userInfo } from 'node:os';
import { CONFIG_ERROR_CODES, checkTemplateValues, type TemplateDefinition } from '@diana/config';
import { DianaError } from '@diana/utils';
import { CONFIG_TEMPLATES } from '../catalog.js';
import { confirm, DESTRUCTIVE_OPTIONS, JSON_OPTION, parse, pickSubcommand, print, UsageError } from './args.js';
import { type CliContext, withConfig } from './services.js';

export const CONFIG_HELP = `usage: cli config <get|set|history|rollback> [options]

  config get [key] [--json]                          the active value of each setting (or one)
  config set <key> <json> [--yes] [--dry-run]        publish a new value (merged over the defaults)
  config history <key> [--json]                      every value it had: its revisions, numbered
                                                     (in --json, \`number\` is what rollback takes)
  config rollback <key> <revision> [--yes] [--dry-run]  make a revision's values active again
  config rollback <key> default [--yes] [--dry-run]     the template's default again (the active value archived)

keys: ${CONFIG_TEMPLATES.map((t) => t.key).join(', ')}

  --json      machine-readable output
  --yes, -y   do it without asking
  --dry-run   validate and say what would change, change nothing`;

type Key = (typeof CONFIG_TEMPLATES)[number]['key'];

function templateOf(key: string) {
  const template = CONFIG_TEMPLATES.find((t) => t.key === key);
  if (!template)
    throw new DianaError(
      CONFIG_ERROR_CODES.CONFIG_NOT_FOUND,
      `unknown config key '${key}' (known: ${CONFIG_TEMPLATES.map((t) => t.key).join(', ')})`,
    );
  return template;
}

// the revisions record who changed what: the operator's login, marked as the CLI
const actor = () => `cli:${userInfo().username}`;
// what `config history` shows as the change's reason (however the CLI was run: pnpm cli or node dist/cli.js)
const reason = (what: string) => `via the CLI: config ${what}`;

export async function configCommand(ctx: CliContext, argv: readonly string[]): Promise<void> {
  const [sub, rest] = pickSubcommand(argv, ['get', 'set', 'history', 'rollback'], CONFIG_HELP);
  if (sub === 'get') {
    const { values, positionals } = parse(rest, {
      options: JSON_OPTION,
      positionals: ['[key]'],
      optional: 1,
      help: CONFIG_HELP,
    });
    const keys = positionals[0] ? [templateOf(positionals[0]).key] : CONFIG_TEMPLATES.map((t) => t.key);
    await withConfig(ctx, async (config) => {
      const entries = Object.fromEntries(keys.map((key) => [key, config.get(key as Key)]));
      if (values.json) return print(positionals[0] ? entries[keys[0] as string] : entries);
      for (const [key, value] of Object.entries(entries)) print(`${key}: ${JSON.stringify(value)}`);
    });
    return;
  }
  if (sub === 'history') {
    const { values, positionals } = parse(rest, { options: JSON_OPTION, positionals: ['<key>'], help: CONFIG_HELP });
    const key = templateOf(positionals[0] as string).key;
    await withConfig(ctx, async (config) => {
      // every instance's revisions (a set makes a new instance and archives the one before)
      const history = await config.keyHistory(key);
      if (values.json) return print(history);
      if (history.length === 0) return print(`${key}: never set, the defaults apply`);
      // the reason says what a line was for: a rollback's "to revision 2: …", a restore's "restores #2: …"
      for (const r of history)
        print(
          `#${r.number} ${r.created_at.toISOString()} ${r.action} ${r.actor}: ${JSON.stringify(r.values)} (${r.reason})`,
        );
      if (!(await activeInstance(config, key))) print(`(none is active now: the defaults apply)`);
    });
    return;
  }
  if (sub === 'set') {
    const { values, positionals } = parse(rest, {
      options: DESTRUCTIVE_OPTIONS,
      positionals: ['<key>', '<json>'],
      help: CONFIG_HELP,
    });
    const template = templateOf(positionals[0] as string);
    let input: unknown;
    try {
      input = JSON.parse(positionals[1] as string);
    } catch {
      throw new UsageError(`the value of ${template.key} is not JSON: ${positionals[1]}`);
    }
    await withConfig(ctx, async (config) => {
      // E_CONFIG_INVALID names each wrong field (and each unknown key) in its message
      const checked = checkTemplateValues(template as TemplateDefinition, input);
      const what = `set ${template.key} from ${JSON.stringify(config.get(template.key as Key))} to ${JSON.stringify(checked)}`;
      if (values['dry-run']) return print(`dry run: would ${what}`);
      await confirm(what, values, ctx.ask);
      const draft = await config.createDraft(template.key as Key, input as never, {
        actor: actor(),
        reason: reason('set'),
      });
      await config.publish(draft.id, { actor: actor(), reason: reason('set') });
      // numbered as `config history` numbers it: the key's, over every value it had
      print(`${template.key}: published revision ${(await config.keyHistory(template.key)).length}`);
    });
    return;
  }
  const { values, positionals } = parse(rest, {
    options: DESTRUCTIVE_OPTIONS,
    positionals: ['<key>', '<revision>'],
    help: CONFIG_HELP,
  });
  const template = templateOf(positionals[0] as string);
  const key = template.key;
  const toDefault = positionals[1] === 'default';
  const revision = Number(positionals[1]);
  if (!toDefault && (!Number.isInteger(revision) || revision < 1))
    throw new UsageError(`a revision is a positive integer or 'default', not '${positionals[1]}'`);
  await withConfig(ctx, async (config) => {
    const active = await activeInstance(config, key);
    if (toDefault) {
      if (!active)
        throw new DianaError(CONFIG_ERROR_CODES.CONFIG_NOT_FOUND, `${key} has no published value to roll back`);
      // a key's first set makes its first revisions (the draft, its publication): the default was
      // never one. It is what applies when no value is active, so the active one is archived (as
      // admin's /config rollback default)
      const what = `roll ${key} back to the default: ${JSON.stringify(template.defaults)}`;
      if (values['dry-run']) return print(`dry run: would ${what}`);
      await confirm(what, values, ctx.ask);
      await config.archive(active.id, { actor: actor(), reason: reason('rollback default') });
      return print(`${key}: the default applies again (the active value archived)`);
    }
    const target = (await config.keyHistory(key)).find((r) => r.number === revision);
    if (!target) throw new DianaError(CONFIG_ERROR_CODES.CONFIG_NOT_FOUND, `${key} has no revision ${revision}`);
    const what = `roll ${key} back to revision ${revision}: ${JSON.stringify(target.values)}`;
    if (values['dry-run']) return print(`dry run: would ${what}`);
    await confirm(what, values, ctx.ask);
    await config.restore(key, revision, { actor: actor(), reason: reason('rollback') });
    print(`${key}: rolled back to revision ${revision} as revision ${(await config.keyHistory(key)).length}`);
  });
}

async function activeInstance(
  config: { list: (f: { key: string; status: 'active' }) => Promise<Array<{ id: string; scope: string }>> },
  key: string,
) {
  return (await config.list({ key, status: 'active' })).find((i) => i.scope === 'global');
}
