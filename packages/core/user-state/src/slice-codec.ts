// A slice value on its way to and from a home: checked against the slice's schema as it will be
// stored (after a JSON round trip), and migrated from an older schema version on read.
import { DianaError, deepFreeze, fromValibotIssues, unstorablePaths, ValidationError } from '@diana/utils';
import * as v from 'valibot';
import { USER_STATE_ERROR_CODES } from './errors.js';
import type { SliceDefinition } from './slice.js';
import type { StoredSlice } from './types.js';

/** The stored value as the slice's current version (migrated, validated, frozen); `initial` when nothing is stored. */
export function decodeSlice(slice: SliceDefinition, stored: StoredSlice | undefined): unknown {
  if (!stored) return slice.initial;
  let data = stored.data;
  try {
    if (stored.schema_version < slice.version && slice.migrate) data = slice.migrate(data, stored.schema_version);
  } catch (error) {
    throw new DianaError(
      USER_STATE_ERROR_CODES.STATE_INVALID,
      `migrating slice '${slice.name}' from version ${stored.schema_version} failed`,
      { cause: error, context: { slice: slice.name, from: stored.schema_version } },
    );
  }
  const result = v.safeParse(slice.schema, data);
  if (!result.success)
    throw new ValidationError(
      USER_STATE_ERROR_CODES.STATE_INVALID,
      `the stored value of slice '${slice.name}' (version ${stored.schema_version}) does not match its schema`,
      fromValibotIssues(result.issues),
      { context: { slice: slice.name } },
    );
  return deepFreeze(result.output);
}

/**
 * A value to write, checked as the homes will store it: after a JSON round trip (a Date
 * becomes a string, `undefined` keys vanish), so what is validated is what is read back.
 */
export function encodeSlice(slice: SliceDefinition, value: unknown): unknown {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (error) {
    throw new DianaError(USER_STATE_ERROR_CODES.STATE_INVALID, `the value of slice '${slice.name}' is not JSON`, {
      cause: error,
      context: { slice: slice.name },
    });
  }
  const result = v.safeParse(slice.schema, json === undefined ? undefined : JSON.parse(json));
  if (!result.success)
    throw new ValidationError(
      USER_STATE_ERROR_CODES.STATE_INVALID,
      `invalid value for slice '${slice.name}'`,
      fromValibotIssues(result.issues),
      { context: { slice: slice.name } },
    );
  // PostgreSQL's jsonb holds neither U+0000 nor half a surrogate pair, in a key or a string
  if (slice.persist && unstorablePaths(result.output).length > 0)
    throw new DianaError(
      USER_STATE_ERROR_CODES.STATE_INVALID,
      `the value of slice '${slice.name}' holds U+0000 or a lone surrogate, which PostgreSQL cannot store`,
      { context: { slice: slice.name } },
    );
  return deepFreeze(result.output);
}
