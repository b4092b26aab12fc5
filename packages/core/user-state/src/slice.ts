import { DianaError, deepFreeze } from '@diana/utils';
import * as v from 'valibot';
import { USER_STATE_ERROR_CODES } from './errors.js';

/** How a slice is defined: `defineSlice(name, options)`. */
export interface SliceOptions<S extends v.GenericSchema> {
  /** Every value written or read is checked against it. Values must survive JSON. */
  readonly schema: S;
  /** The value of a user who has none stored (and what `reset` writes). */
  readonly initial: v.InferOutput<S>;
  /** Version of the shape; bump it with a `migrate` step when the schema changes. Default 1. */
  readonly version?: number;
  /** Turns a stored value of an older version (`from`) into this version's shape, on read. */
  readonly migrate?: (value: unknown, from: number) => unknown;
  /** `true`: PostgreSQL is the home (row per user and slice). `false`: Redis with `ttl_ms`. */
  readonly persist: boolean;
  /** Ephemeral slices only: the value expires this long after its last write. */
  readonly ttl_ms?: number;
  /** Publish `user.state_changed` (slice and version, no payload) after each write. */
  readonly notify?: boolean;
}

/** A slice: one named piece of per-user state with one home. */
export interface SliceDefinition<N extends string = string, T = unknown> {
  readonly name: N;
  readonly schema: v.GenericSchema<unknown, T>;
  readonly initial: T;
  readonly version: number;
  readonly migrate?: (value: unknown, from: number) => unknown;
  readonly persist: boolean;
  readonly ttl_ms?: number;
  readonly notify: boolean;
}

const SLICE_NAME = /^[a-z][a-z0-9_]{0,63}$/;

/** Checks and freezes a slice definition; a bad one throws `E_STATE_CONFIG`. */
export function defineSlice<const N extends string, S extends v.GenericSchema>(
  name: N,
  options: SliceOptions<S>,
): SliceDefinition<N, v.InferOutput<S>> {
  const fail = (problem: string): never => {
    throw new DianaError(USER_STATE_ERROR_CODES.STATE_CONFIG, `slice '${name}': ${problem}`, {
      context: { slice: name },
    });
  };
  if (!SLICE_NAME.test(name)) fail('the name must match [a-z][a-z0-9_]{0,63}');
  const version = options.version ?? 1;
  if (!Number.isSafeInteger(version) || version < 1) fail('version must be a positive integer');
  if (options.persist && options.ttl_ms !== undefined) fail('a persistent slice has no ttl_ms');
  if (!options.persist && !(Number.isSafeInteger(options.ttl_ms) && (options.ttl_ms ?? 0) > 0))
    fail('an ephemeral slice needs a positive integer ttl_ms');
  if (version > 1 && !options.migrate) fail('a version above 1 needs a migrate step');
  const checked = v.safeParse(options.schema, options.initial);
  if (!checked.success) fail(`the initial value does not match the schema: ${checked.issues[0]?.message}`);
  return Object.freeze({
    name,
    schema: options.schema,
    initial: deepFreeze(structuredClone(checked.output as v.InferOutput<S>)),
    version,
    ...(options.migrate ? { migrate: options.migrate } : {}),
    persist: options.persist,
    ...(options.ttl_ms !== undefined ? { ttl_ms: options.ttl_ms } : {}),
    notify: options.notify ?? false,
  });
}

/** The value type of a slice definition. */
export type SliceValue<D> = D extends SliceDefinition<string, infer T> ? T : never;
