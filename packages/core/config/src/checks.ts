// The ConfigManager's input checks: scopes, change metadata, instance ids, and values against
// their template (as stored: after a JSON round trip).
import { DianaError, fromValibotIssues, type Issue, unstorablePaths, ValidationError } from '@diana/utils';
import * as v from 'valibot';
import { CONFIG_ERROR_CODES } from './errors.js';
import type { TemplateDefinition } from './templates.js';

const SCOPE = /^(global|[a-z][a-z_]*:[A-Za-z0-9_.:@-]{1,128})$/;
const ACTOR = /^.{1,128}$/s;
const INSTANCE_ID = /^[0-9a-f-]{36}$/i;

/** A misuse of the API: `E_CONFIG_USAGE`. */
export const usage = (message: string, context?: Record<string, unknown>) =>
  new DianaError(CONFIG_ERROR_CODES.CONFIG_USAGE, message, context ? { context } : {});

export function checkScope(scope: string): void {
  if (typeof scope !== 'string' || !SCOPE.test(scope))
    throw usage("a scope is 'global' or '<kind>:<id>' (e.g. channel:-100123)", { scope: String(scope).slice(0, 80) });
}

export function checkMeta(meta: { actor: string; reason: string }): void {
  if (!meta || typeof meta.actor !== 'string' || !ACTOR.test(meta.actor) || typeof meta.reason !== 'string')
    throw usage('a change needs an actor (1–128 characters) and a reason');
}

export function checkId(id: string): void {
  if (typeof id !== 'string' || !INSTANCE_ID.test(id))
    throw usage('an instance id is a UUID', { id: String(id).slice(0, 40) });
}

/**
 * `values` checked against the template (after a JSON round trip, as stored): the output, or
 * E_CONFIG_INVALID. `strict` (a caller's new values): a key the schema would drop (a typo,
 * `daily_gfit`) is an issue too, as `v.strictObject` says it — dropped silently, the change
 * would publish as made and change nothing. Values already stored are read without it, so a
 * field a newer template no longer has does not stop them. What JSON or PostgreSQL's jsonb cannot
 * hold (a BigInt, a cycle, U+0000, a lone surrogate) is an issue too: it would fail the write.
 */
export function validate(template: TemplateDefinition, values: unknown, what: string, strict = false): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(values);
  } catch (error) {
    throw invalid(template, what, [{ path: '', message: `not JSON: ${(error as Error).message}` }]);
  }
  const input: unknown = json === undefined ? undefined : JSON.parse(json);
  const result = v.safeParse(template.schema, input);
  const issues = [
    ...unstorablePaths(input).map((at) => ({
      path: at.join('.'),
      message: 'holds U+0000 or a lone surrogate, which PostgreSQL cannot store',
    })),
    ...(!result.success ? fromValibotIssues(result.issues) : strict ? droppedKeys(input, result.output, []) : []),
  ];
  if (issues.length > 0) throw invalid(template, what, issues);
  return result.output;
}

const invalid = (template: TemplateDefinition, what: string, issues: Issue[]) =>
  new ValidationError(CONFIG_ERROR_CODES.CONFIG_INVALID, `${what} do not match template '${template.key}'`, issues, {
    context: { key: template.key },
  });

/**
 * New values for `template` as a write takes them: merged over the defaults (objects), checked
 * with every key known. The parsed value, or `E_CONFIG_INVALID` listing each issue (an unknown
 * key: `expected: 'never'`). What `createDraft` and `updateDraft` run; a tool checks with it
 * before it writes (a dry run).
 */
export function checkTemplateValues<T>(template: TemplateDefinition<string, T>, values: unknown): T {
  return validate(template, mergeDefaults(template, values), 'values', true) as T;
}

/**
 * The keys of `input`'s objects that `output` lacks at the same place (where both are objects),
 * and the arrays the schema took for objects (`v.record` accepts `[]`: an empty map of policies
 * would be published for "no change").
 */
function droppedKeys(input: unknown, output: unknown, path: readonly string[]): Issue[] {
  if (Array.isArray(input) && isPlainObject(output))
    return [
      { path: path.join('.'), message: 'expected an object, received an array', expected: 'Object', received: 'Array' },
    ];
  if (Array.isArray(input) && Array.isArray(output))
    return input.flatMap((item, i) => droppedKeys(item, output[i], [...path, String(i)]));
  if (!isPlainObject(input) || !isPlainObject(output)) return [];
  return Object.keys(input).flatMap((key) =>
    Object.hasOwn(output, key)
      ? droppedKeys(input[key], output[key], [...path, key])
      : [{ path: [...path, key].join('.'), message: `unknown key "${key}"`, expected: 'never', received: `"${key}"` }],
  );
}

/** `values` over the template's defaults when both are plain objects; else `values`. */
function mergeDefaults(template: TemplateDefinition, values: unknown): unknown {
  return isPlainObject(template.defaults) && isPlainObject(values) ? { ...template.defaults, ...values } : values;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
