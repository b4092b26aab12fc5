import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseEnv } from 'node:util';
import {
  type DeepReadonly,
  deepFreeze,
  type Issue,
  isSecretSchema,
  isUrlSchema,
  scrubString,
  ValidationError,
} from '@diana/utils';
import * as v from 'valibot';
import { usage } from './checks.js';
import { CONFIG_ERROR_CODES } from './errors.js';

/** A component config schema: a valibot object with snake_case keys (`DatabaseConfig`, ...). */
// biome-ignore lint/suspicious/noExplicitAny: any object schema, whatever its error message type
export type SectionSchema = v.ObjectSchema<v.ObjectEntries, any>;

/** The sections to load, by name: `{ database: DatabaseConfig, redis: RedisConfig }`. */
export type SettingsSchemas = Readonly<Record<string, SectionSchema>>;

/** The validated, deeply frozen settings. */
export type Settings<S extends SettingsSchemas> = DeepReadonly<{ -readonly [K in keyof S]: v.InferOutput<S[K]> }>;

/** Options of `loadSettings`. */
export interface LoadSettingsOptions {
  /** A `.env` file read with Node's parser; the real environment wins. `false` reads none. @default '.env' */
  readonly env_file?: string | false;
  /**
   * Directory the `.env` path is relative to. @default the directory the command was typed in:
   * `INIT_CWD`, which pnpm and npm set for the scripts they run (`pnpm start` at the repository's
   * root runs the bot in `apps/bot`, and reads the root's `.env`), else `process.cwd()`
   */
  readonly cwd?: string;
}

/** Conventional names accepted as well as `DIANA_<SECTION>_<KEY>`. */
export const SETTINGS_ALIASES: Readonly<Record<string, string>> = Object.freeze({
  'database.url': 'DATABASE_URL',
  'redis.url': 'REDIS_URL',
  'mongo.url': 'MONGODB_URL',
  'bot.telegram_bot_token': 'TELEGRAM_BOT_TOKEN',
  'bot.service_name': 'OTEL_SERVICE_NAME',
});

const SECRET_KEY = /(^|_)(token|password|secret|pepper)$/;

/**
 * Reads every section from `DIANA_<SECTION>_<KEY>` variables (and their aliases), validates
 * all of them, and returns one deeply frozen object. Every problem — missing, malformed or
 * unknown variables — is reported in a single `E_CONFIG_SETTINGS_INVALID` error naming each variable;
 * values of secrets never appear in it.
 */
export function loadSettings<S extends SettingsSchemas>(
  schemas: S,
  env: Readonly<Record<string, string | undefined>> = process.env,
  options: LoadSettingsOptions = {},
): Settings<S> {
  const source: Record<string, string | undefined> = { ...readEnvFile(options), ...env };
  const issues: Issue[] = [];
  const known = new Set<string>();
  const out: Record<string, unknown> = {};

  for (const [section, schema] of Object.entries(schemas)) {
    const input: Record<string, string> = {};
    const variableOf = new Map<string, string>();
    // Keys whose refused value is never repeated: secrets, and URLs (a malformed one may
    // still hold a password, in a place no scrubber recognises).
    const hiddenKeys = new Set<string>();
    for (const [key, entry] of Object.entries(schema.entries)) {
      const primary = getVariableName(section, key);
      const alias = SETTINGS_ALIASES[`${section}.${key}`];
      known.add(primary);
      if (alias) known.add(alias);
      const used = present(source[primary]) ? primary : alias && present(source[alias]) ? alias : undefined;
      variableOf.set(key, used ?? primary);
      if (used) input[key] = source[used] as string;
      // a key named like a secret must be one: as a plain string its value would be loaded,
      // logged and serialised in clear (the README promised it hidden by its name)
      if (SECRET_KEY.test(key) && !isSecretSchema(entry) && !isUrlSchema(entry))
        throw usage(
          `setting ${section}.${key} is named like a secret (…_token, _password, _secret, _pepper): declare it with secret() or secretUrl() of @diana/config, so that its value stays hidden`,
          { setting: `${section}.${key}` },
        );
      if (isSecretSchema(entry) || isUrlSchema(entry)) hiddenKeys.add(key);
    }
    const result = v.safeParse(schema, input);
    if (result.success) {
      out[section] = result.output;
      continue;
    }
    for (const issue of result.issues) {
      const key = String(issue.path?.[0]?.key ?? '');
      const variable = variableOf.get(key) ?? `DIANA_${section.toUpperCase()}`;
      issues.push(describeIssue(variable, `${section}.${key}`, issue, input[key] === undefined, hiddenKeys.has(key)));
    }
  }

  issues.push(...unknownVariables(schemas, source, known));
  if (issues.length > 0) {
    throw new ValidationError(CONFIG_ERROR_CODES.SETTINGS_INVALID, `invalid settings (${issues.length})`, issues);
  }
  return deepFreeze(out) as Settings<S>;
}

/** The variable that sets `section.key`: `getVariableName('redis', 'url')` → `DIANA_REDIS_URL`. */
export function getVariableName(section: string, key: string): string {
  return `DIANA_${section}_${key}`.toUpperCase();
}

function describeIssue(
  variable: string,
  path: string,
  issue: v.BaseIssue<unknown>,
  missing: boolean,
  hidden: boolean,
): Issue {
  const why = missing
    ? 'is required but not set'
    : hidden
      ? `is invalid (${issue.expected ? `expected ${issue.expected}` : 'see the docs'}; value hidden)`
      : scrubString(issue.message);
  return {
    path: variable,
    message: `${why} [${path}]`,
    expected: issue.expected ?? undefined,
    received: hidden || missing ? undefined : scrubString(issue.received),
  };
}

// A DIANA_<SECTION>_* variable of a known section that names no key is most likely a typo.
function unknownVariables(schemas: SettingsSchemas, source: Record<string, string | undefined>, known: Set<string>) {
  const issues: Issue[] = [];
  const sections = Object.keys(schemas).sort((a, b) => b.length - a.length);
  for (const name of Object.keys(source)) {
    if (!name.startsWith('DIANA_') || known.has(name) || !present(source[name])) continue;
    const section = sections.find((s) => name.startsWith(`DIANA_${s.toUpperCase()}_`));
    if (section === undefined) continue;
    const keys = Object.keys(schemas[section]?.entries ?? {}).map((key) => getVariableName(section, key));
    issues.push({ path: name, message: `is not a known setting of section "${section}" (known: ${keys.join(', ')})` });
  }
  return issues;
}

function readEnvFile(options: LoadSettingsOptions): Record<string, string> {
  if (options.env_file === false) return {};
  const path = resolve(options.cwd ?? (process.env.INIT_CWD || process.cwd()), options.env_file ?? '.env');
  // Node's own parser (the one behind process.loadEnvFile), without touching process.env.
  return existsSync(path) ? (parseEnv(readFileSync(path, 'utf8')) as Record<string, string>) : {};
}

function present(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}
