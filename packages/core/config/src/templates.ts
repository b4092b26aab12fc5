import { DianaError, deepFreeze } from '@diana/utils';
import * as v from 'valibot';
import { CONFIG_ERROR_CODES } from './errors.js';

/** Kinds of templates an admin composes. */
export const TEMPLATE_TYPES = ['experience', 'event', 'mission_chain', 'setting'] as const;
/** A template's kind. */
export type TemplateType = (typeof TEMPLATE_TYPES)[number];

/** A template: a key, a schema its values must match, and the defaults used when nothing is active. */
export interface TemplateDefinition<K extends string = string, T = unknown> {
  readonly key: K;
  readonly type: TemplateType;
  readonly schema: v.GenericSchema<unknown, T>;
  readonly defaults: T;
  readonly description: string;
}

const KEY = /^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/;

/** Checks and freezes a template definition (`E_CONFIG_USAGE` when it cannot work). */
export function defineTemplate<const K extends string, S extends v.GenericSchema>(
  key: K,
  options: { type: TemplateType; schema: S; defaults: v.InferOutput<S>; description?: string },
): TemplateDefinition<K, v.InferOutput<S>> {
  const fail = (problem: string): never => {
    throw new DianaError(CONFIG_ERROR_CODES.CONFIG_USAGE, `template '${key}': ${problem}`, { context: { key } });
  };
  if (!KEY.test(key) || key.length > 64) fail('a key is dotted lower-case words ([a-z0-9_]), at most 64 characters');
  if (!TEMPLATE_TYPES.includes(options.type)) fail(`type must be one of ${TEMPLATE_TYPES.join(', ')}`);
  const checked = v.safeParse(options.schema, options.defaults);
  if (!checked.success) fail(`the defaults do not match the schema: ${checked.issues[0]?.message}`);
  return Object.freeze({
    key,
    type: options.type,
    schema: options.schema,
    defaults: deepFreeze(structuredClone(checked.output as v.InferOutput<S>)) as v.InferOutput<S>,
    description: options.description ?? '',
  });
}
