import { DianaError, fromValibotIssues, ValidationError } from '@diana/utils';
import * as v from 'valibot';
import { EVENT_BUS_ERROR_CODES } from './errors.js';

/** A payload schema, or a schema with its version (default 1). */
export type EventDefinition = v.GenericSchema | { readonly schema: v.GenericSchema; readonly version?: number };

/** The typed registry made by `defineEvents`. */
export type EventRegistry<D extends Record<string, EventDefinition> = Record<string, EventDefinition>> = {
  readonly [K in keyof D]: { readonly schema: SchemaOf<D[K]>; readonly version: number };
};

type SchemaOf<D> = D extends v.GenericSchema ? D : D extends { schema: infer S extends v.GenericSchema } ? S : never;

/** Event type names of a registry. */
export type EventType<R extends EventRegistry> = keyof R & string;
/** What `publish` takes for a type. */
export type PayloadInput<R extends EventRegistry, T extends EventType<R>> = v.InferInput<R[T]['schema']>;
/** What a handler receives for a type. */
export type Payload<R extends EventRegistry, T extends EventType<R>> = v.InferOutput<R[T]['schema']>;

/** Every event on the bus: metadata plus its validated payload. */
export interface EventEnvelope<T extends string = string, P = unknown> {
  /** UUIDv7, made when the event is published. */
  readonly id: string;
  readonly type: T;
  readonly version: number;
  /** ISO 8601. */
  readonly occurred_at: string;
  /** The chain of events that began with one user action; the first event's id by default. */
  readonly correlation_id: string;
  /** The event that caused this one, if any. */
  readonly causation_id: string | null;
  readonly user_id: string | null;
  /** Ordering key (e.g. a user id): events of one key are handled in order when asked. */
  readonly key: string | null;
  readonly payload: P;
}

/** Declares the events a module publishes or consumes: `{ 'gamification.besitos_awarded': schema }`. */
export function defineEvents<const D extends Record<string, EventDefinition>>(definitions: D): EventRegistry<D> {
  const out: Record<string, { schema: v.GenericSchema; version: number }> = {};
  for (const [type, definition] of Object.entries(definitions)) {
    if (!/^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/.test(type)) {
      throw new DianaError(EVENT_BUS_ERROR_CODES.BUS_CONFIG, `event type "${type}" must look like module.event_name`);
    }
    out[type] =
      'schema' in definition
        ? { schema: definition.schema, version: definition.version ?? 1 }
        : { schema: definition as v.GenericSchema, version: 1 };
  }
  return Object.freeze(out) as EventRegistry<D>;
}

/** Merges registries (the app's union of every module's events). */
export function mergeEvents<A extends EventRegistry, B extends EventRegistry>(a: A, b: B): A & B {
  return Object.freeze({ ...a, ...b }) as A & B;
}

/** What a stored entry holds around its payload (valibot decides; `plainEnvelope` is its fast path). */
export const Envelope = v.object({
  id: v.pipe(v.string(), v.uuid()),
  type: v.string(),
  version: v.pipe(v.number(), v.integer(), v.minValue(1)),
  occurred_at: v.pipe(v.string(), v.isoTimestamp()),
  correlation_id: v.string(),
  causation_id: v.nullable(v.string()),
  user_id: v.nullable(v.string()),
  key: v.nullable(v.string()),
  payload: v.unknown(),
});

type StoredEnvelope = v.InferOutput<typeof Envelope>;

/**
 * The envelope of a stored entry, or `E_BUS_EVENT_SCHEMA` with valibot's issues. An envelope
 * our own encoder wrote passes a check of the same rules in plain code (valibot's own UUID and
 * timestamp patterns): valibot's run of `Envelope` was the largest item of a consumer's profile
 * (a fifth of it, building a dataset per field). Anything the check does not pass goes through
 * valibot, which decides and names what is wrong; the check passes nothing valibot refuses
 * (a property test holds the two together).
 */
export function readEnvelope(parsed: unknown): StoredEnvelope {
  const known = plainEnvelope(parsed);
  if (known) return known;
  const envelope = v.safeParse(Envelope, parsed);
  if (!envelope.success) {
    throw new ValidationError(
      EVENT_BUS_ERROR_CODES.EVENT_SCHEMA,
      'invalid event envelope',
      fromValibotIssues(envelope.issues),
    );
  }
  return envelope.output;
}

const nullableString = (value: unknown): value is string | null => value === null || typeof value === 'string';

/** `Envelope`'s rules in plain code: the output valibot gives, or undefined to ask valibot. */
export function plainEnvelope(input: unknown): StoredEnvelope | undefined {
  if (typeof input !== 'object' || input === null || !('payload' in input)) return undefined;
  const { id, type, version, occurred_at, correlation_id, causation_id, user_id, key, payload } = input as Record<
    string,
    unknown
  >;
  if (
    typeof id !== 'string' ||
    !v.UUID_REGEX.test(id) ||
    typeof type !== 'string' ||
    typeof version !== 'number' ||
    !Number.isInteger(version) ||
    version < 1 ||
    typeof occurred_at !== 'string' ||
    !v.ISO_TIMESTAMP_REGEX.test(occurred_at) ||
    typeof correlation_id !== 'string' ||
    !nullableString(causation_id) ||
    !nullableString(user_id) ||
    !nullableString(key)
  ) {
    return undefined;
  }
  return { id, type, version, occurred_at, correlation_id, causation_id, user_id, key, payload };
}

/** Validates a payload for `type`; returns the schema's output or throws `E_BUS_EVENT_SCHEMA`. */
export function validatePayload(registry: EventRegistry, type: string, payload: unknown): unknown {
  const definition = registry[type];
  if (!definition) throw new DianaError(EVENT_BUS_ERROR_CODES.EVENT_UNKNOWN, `unknown event type "${type}"`);
  const result = v.safeParse(definition.schema, payload);
  if (!result.success) {
    throw new ValidationError(
      EVENT_BUS_ERROR_CODES.EVENT_SCHEMA,
      `invalid ${type} payload`,
      fromValibotIssues(result.issues),
      {
        context: { type },
      },
    );
  }
  return result.output;
}

/** Serialized form stored in a stream entry (field `e`). */
export function encodeEnvelope(envelope: EventEnvelope): string {
  return JSON.stringify(envelope);
}

/**
 * Parses and validates a stored entry against the registry: envelope shape, known type (the
 * stream's, `stream_type`, when given), payload schema. Throws `E_BUS_EVENT_SCHEMA` (so the
 * entry goes straight to the dead letters).
 */
export function decodeEnvelope(registry: EventRegistry, raw: string | undefined, stream_type?: string): EventEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw ?? '');
  } catch (error) {
    throw new DianaError(EVENT_BUS_ERROR_CODES.EVENT_SCHEMA, 'entry is not JSON', { cause: error });
  }
  const value = readEnvelope(parsed);
  // a foreign entry's payload would pass its own type's schema and reach this stream's handler
  if (stream_type !== undefined && value.type !== stream_type) {
    throw new DianaError(EVENT_BUS_ERROR_CODES.EVENT_SCHEMA, `a ${value.type} entry on the ${stream_type} stream`);
  }
  const definition = registry[value.type];
  if (definition && value.version > definition.version) {
    throw new DianaError(
      EVENT_BUS_ERROR_CODES.EVENT_SCHEMA,
      `${value.type} v${value.version} is newer than this reader (v${definition.version})`,
    );
  }
  let payload: unknown;
  try {
    payload = validatePayload(registry, value.type, value.payload);
  } catch (error) {
    if (error instanceof DianaError && error.code === EVENT_BUS_ERROR_CODES.EVENT_UNKNOWN) {
      throw new DianaError(EVENT_BUS_ERROR_CODES.EVENT_SCHEMA, error.message, { cause: error });
    }
    throw error;
  }
  return { ...value, payload } as EventEnvelope;
}
