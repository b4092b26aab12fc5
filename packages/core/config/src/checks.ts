// The ConfigManager's input checks: scopes, change metadata, instance ids, and values against
// their template (as stored: after a JSON round trip).
import { DianaError, fromValibotIssues, ValidationError } from '@diana/utils';
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

/** `values` checked against the template (after a JSON round trip, as stored): the output, or E_CONFIG_INVALID. */
export function validate(template: TemplateDefinition, values: unknown, what: string): unknown {
  const json = JSON.stringify(values);
  const result = v.safeParse(template.schema, json === undefined ? undefined : JSON.parse(json));
  if (!result.success)
    throw new ValidationError(
      CONFIG_ERROR_CODES.CONFIG_INVALID,
      `${what} do not match template '${template.key}'`,
      fromValibotIssues(result.issues),
      { context: { key: template.key } },
    );
  return result.output;
}

/** `values` over the template's defaults when both are plain objects; else `values`. */
export function mergeDefaults(template: TemplateDefinition, values: unknown): unknown {
  return isPlainObject(template.defaults) && isPlainObject(values) ? { ...template.defaults, ...values } : values;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
