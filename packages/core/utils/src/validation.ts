import * as v from 'valibot';
import { type Issue, ValidationError } from './errors.js';

/** Codes of the errors this package raises. */
export const ERROR_CODES = Object.freeze({
  /** A value failed its schema (see `issues`). */
  VALIDATION: 'E_UTILS_VALIDATION',
  /** A file the package ships (migration, Lua script, story) is neither embedded nor on disk. */
  PACKAGE_FILE: 'E_UTILS_PACKAGE_FILE',
} as const);

/** A code of `ERROR_CODES`. */
export type UtilsErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

// What a check expects where valibot leaves `expected` null (its integer checks): `1.5` for an
// integer said only "Invalid integer", and a caller naming what was expected had nothing to say.
const CHECK_EXPECTS: Readonly<Record<string, string>> = { integer: 'integer', safe_integer: 'safe integer' };

/** Valibot issues as plain data with dotted paths (`expected` also for the integer checks). */
export function fromValibotIssues(issues: readonly v.BaseIssue<unknown>[]): Issue[] {
  return issues.map((issue) => ({
    path: (issue.path ?? []).map((item) => String(item.key)).join('.'),
    message: issue.message,
    expected: issue.expected ?? CHECK_EXPECTS[issue.type],
    received: issue.received,
  }));
}

/**
 * Parses `value` with `schema` and returns the typed output, or throws a `ValidationError`
 * with `code` listing every issue. Nothing is partially applied: callers parse before writing.
 */
export function parseOrThrow<TSchema extends v.GenericSchema, Code extends string = 'E_UTILS_VALIDATION'>(
  schema: TSchema,
  value: unknown,
  options: { code?: Code; message?: string } = {},
): v.InferOutput<TSchema> {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  throw new ValidationError(
    (options.code ?? ERROR_CODES.VALIDATION) as Code,
    options.message ?? 'invalid value',
    fromValibotIssues(result.issues),
  );
}
