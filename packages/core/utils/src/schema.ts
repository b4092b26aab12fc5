import parseMs from 'ms';
import * as v from 'valibot';
import { createSecret, isSecret, maskUrl, type Secret } from './secret.js';
import { parseStrictUrl } from './url.js';

// Helpers for config schemas. Every helper accepts the raw string an environment variable
// holds as well as the typed value code passes, so the same schema serves both.

const SECRET_SCHEMA: unique symbol = Symbol.for('diana.secret-schema');
const URL_SCHEMA: unique symbol = Symbol.for('diana.url-schema');

type Schema<T> = v.GenericSchema<unknown, T>;

/** Bounds shared by the numeric helpers. */
export interface NumberBounds {
  readonly min?: number;
  readonly max?: number;
}

/** A number, from a number or a decimal string (`-1.5`, `2e-3`; not `0x10`, `0b101`, `Infinity`). */
export function coerceNumber(bounds: NumberBounds = {}): Schema<number> {
  return bounded(
    coerce('a number', (input) => toNumber(input, DECIMAL)),
    bounds,
  );
}

/** A whole number, from a number or a decimal string without exponent (`-42`; not `0x10`, `1e3`). */
export function coerceInt(bounds: NumberBounds = {}): Schema<number> {
  // a safe integer: past ±2^53 a number is rounded (a channel id "…993" would become "…992").
  // One reason per value: a fraction is not whole (it was also told the safe range), and within
  // bounds inside the safe range a number past it is told the bounds only
  const safeBounds = Number.isSafeInteger(bounds.min) && Number.isSafeInteger(bounds.max);
  const whole = v.pipe(
    coerce('a number', (input) => toNumber(input, PLAIN)),
    v.rawCheck(({ dataset, addIssue }) => {
      if (!dataset.typed) return;
      if (!Number.isInteger(dataset.value)) addIssue({ message: 'must be a whole number' });
      else if (!safeBounds && !Number.isSafeInteger(dataset.value))
        addIssue({ message: 'must be a whole number between -9007199254740991 and 9007199254740991' });
    }),
  ) as Schema<number>;
  return bounded(whole, bounds);
}

/** A boolean, from a boolean or `true/false/1/0/yes/no/on/off`. */
export function coerceBoolean(): Schema<boolean> {
  return coerce('a boolean (true/false)', (input) => {
    if (typeof input === 'boolean') return input;
    if (typeof input !== 'string') return undefined;
    const word = input.trim().toLowerCase();
    if (['true', '1', 'yes', 'on'].includes(word)) return true;
    if (['false', '0', 'no', 'off'].includes(word)) return false;
    return undefined;
  });
}

/**
 * A duration in milliseconds, from a number or a string like `250`, `5s`, `2m`, `1h`, `1d`; at most
 * 2 147 483 647 (about 24.8 days) unless `max` says otherwise (a duration that is no timer).
 */
export function coerceDuration(bounds: NumberBounds = {}): Schema<number> {
  const duration = coerce('a duration (ms, or like 5s, 2m, 1h)', (input) => {
    const value =
      typeof input === 'string' && !/^\s*\d+(\.\d+)?\s*$/.test(input)
        ? parseMs(input.trim() as '1s')
        : toNumber(input, DECIMAL);
    return typeof value === 'number' && Number.isFinite(value) && value >= 0 ? Math.round(value) : undefined;
  });
  if (bounds.max !== undefined) return bounded(duration, { min: 0, ...bounds });
  // Node runs a longer timer after 1 ms: a 30-day interval would run back to back
  return v.pipe(
    bounded(duration, { min: 0, ...bounds }),
    v.maxValue(MAX_TIMER_MS, `must be at most ${MAX_TIMER_MS} ms (about 24.8 days, the longest timer Node keeps)`),
  ) as Schema<number>;
}

/**
 * A list, from an array or a comma-separated string; each item is checked by `item`. An empty
 * string is the empty list; an empty item (`1,,2`, `,`, a trailing comma) is refused: a stray
 * comma must not shorten a list silently (an owners' list, say).
 */
export function coerceList<T>(item: Schema<T>): Schema<T[]> {
  return v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const raw = dataset.value;
      const parts = Array.isArray(raw)
        ? raw
        : typeof raw === 'string'
          ? raw.trim() === ''
            ? []
            : raw.split(',').map((part) => part.trim())
          : undefined;
      if (parts === undefined) {
        addIssue({ message: 'must be a list (comma-separated)', expected: 'list' });
        return NEVER;
      }
      const out: T[] = [];
      // items are named from 1, as a person counts them (`900,,901`: item 2 is empty)
      for (const [index, part] of parts.entries()) {
        if (part === '') {
          addIssue({ message: `item ${index + 1}: empty (a stray comma?)` });
          return NEVER;
        }
        const result = v.safeParse(item, part);
        if (!result.success) {
          addIssue({ message: `item ${index + 1}: ${result.issues[0]?.message ?? 'invalid'}` });
          return NEVER;
        }
        out.push(result.output);
      }
      return out;
    }),
  );
}

/** Options of the URL helpers. */
export interface UrlOptions {
  /** Accepted schemes without the colon, e.g. `['postgres', 'postgresql']`. Any when omitted. */
  readonly protocols?: readonly string[];
  /**
   * What else the parsed URL must be (`test`), and the whole of what is expected, said in the
   * issue instead of the schemes alone (`expected`): e.g. a database number as the path.
   */
  readonly refine?: { readonly test: (url: URL) => boolean; readonly expected: string };
  /**
   * What the issue says is expected, instead of the schemes alone (`refine.expected` wins): e.g.
   * the accepted form of a case users often write another way.
   */
  readonly expected?: string;
}

// Both URL helpers parse strictly (`scheme://host`, one `@`, no spaces: see url.ts) and never
// put the refused value into the issue: a malformed URL may still hold a password.

/** A URL string without credentials (`user:pw@` is refused; use `secretUrl` for those). */
export function urlString(options: UrlOptions = {}): Schema<string> {
  return mark(
    URL_SCHEMA,
    coerce(
      describeUrl(options),
      (input) => (strictUrl(input, { ...options, credentials: false }) ? (input as string).trim() : undefined),
      HIDDEN,
    ),
  );
}

/** A URL that may carry credentials: shown with its password masked, revealed on demand. */
export function secretUrl(options: UrlOptions = {}): Schema<Secret<string>> {
  const schema = coerce(
    describeUrl(options),
    (input) => {
      // an already parsed secret (settings handed on to a factory that parses again) is checked as its value
      const value = isSecret(input) ? input.reveal() : input;
      if (!strictUrl(value, options)) return undefined;
      const raw = (value as string).trim();
      return createSecret(raw, maskUrl(raw));
    },
    HIDDEN,
  );
  return mark(SECRET_SCHEMA, mark(URL_SCHEMA, schema));
}

// A zone name as the IANA database writes it ("Europe/Madrid", "UTC", "Etc/GMT+5"): PostgreSQL
// and Intl read those alike. An offset ("+01:00") is refused: PostgreSQL's `at time zone` reads
// it as POSIX, west of Greenwich, the opposite of Intl.
const ZONE_NAME = /^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/;

/** An IANA time zone name that this runtime knows (`Europe/Madrid`, `UTC`); offsets are refused. */
export function timeZone(): Schema<string> {
  return coerce('an IANA time zone name (like Europe/Madrid or UTC)', (input) => {
    if (typeof input !== 'string') return undefined;
    const name = input.trim();
    if (!ZONE_NAME.test(name)) return undefined;
    try {
      new Intl.DateTimeFormat('en', { timeZone: name });
      return name;
    } catch {
      return undefined;
    }
  });
}

/** Options of `secret`. */
export interface SecretOptions {
  /** @default 1 */
  readonly minLength?: number;
  /** No limit when omitted. */
  readonly maxLength?: number;
  /** The characters allowed, as the inside of a regular-expression class (`A-Za-z0-9_-`); any when omitted. */
  readonly characters?: string;
}

/** A secret string (token, password, key): never shown by JSON, inspect or logs. */
export function secret(options: SecretOptions = {}): Schema<Secret<string>> {
  const minLength = options.minLength ?? 1;
  const maxLength = options.maxLength ?? Number.POSITIVE_INFINITY;
  const allowed = options.characters === undefined ? undefined : new RegExp(`^[${options.characters}]*$`);
  const length = Number.isFinite(maxLength)
    ? `${minLength}–${maxLength} characters`
    : `at least ${minLength} characters`;
  return mark(
    SECRET_SCHEMA,
    coerce(
      `a secret of ${length}${options.characters === undefined ? '' : ` of [${options.characters}]`}`,
      (input) => {
        const value = isSecret(input) ? input.reveal() : input;
        if (
          typeof value === 'string' &&
          value.length >= minLength &&
          value.length <= maxLength &&
          allowed?.test(value) !== false
        )
          return isSecret(input) ? (input as Secret<string>) : createSecret(value);
        return undefined;
      },
      HIDDEN,
    ),
  );
}

/** True when the schema (or the schema an `optional` wraps) was made by `secret`/`secretUrl`. */
export function isSecretSchema(schema: unknown): boolean {
  return isMarked(schema, SECRET_SCHEMA);
}

/** True when the schema (or the schema an `optional` wraps) was made by `urlString`/`secretUrl`. */
export function isUrlSchema(schema: unknown): boolean {
  return isMarked(schema, URL_SCHEMA);
}

function isMarked(schema: unknown, marker: symbol): boolean {
  let current = schema as { wrapped?: unknown; [marker]?: boolean } | undefined;
  for (let depth = 0; current && depth < 8; depth++) {
    if (current[marker] === true) return true;
    current = current.wrapped as typeof current;
  }
  return false;
}

function mark<T>(marker: symbol, schema: Schema<T>): Schema<T> {
  Object.defineProperty(schema, marker, { value: true });
  return schema;
}

// What an issue shows as `received` for a value that must not be repeated.
const HIDDEN = '[hidden]';

function coerce<T>(expected: string, parse: (input: unknown) => T | undefined, received?: string): Schema<T> {
  return v.pipe(
    v.unknown(),
    v.rawTransform(({ dataset, addIssue, NEVER }) => {
      const out = parse(dataset.value);
      if (out === undefined) {
        addIssue({ message: `must be ${expected}`, expected, ...(received === undefined ? {} : { received }) });
        return NEVER;
      }
      return out;
    }),
  );
}

// setTimeout's limit (a signed 32-bit count of ms)
const MAX_TIMER_MS = 2_147_483_647;

function bounded(schema: Schema<number>, bounds: NumberBounds): Schema<number> {
  const { min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY } = bounds;
  return v.pipe(
    schema,
    v.minValue(min, `must be at least ${min}`),
    v.maxValue(max, `must be at most ${max}`),
  ) as Schema<number>;
}

// What a string may hold to be read as a number. Number() also reads `0x10`, `0b101`, `0o17`
// and `1e3`: an owners' list `0b101, 1e3` made the users 5 and 1000 owners. A whole number is
// written without exponent (`4.5` is then refused as not whole, not as not a number).
const PLAIN = /^[+-]?(?:\d+\.?\d*|\.\d+)$/;
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function toNumber(input: unknown, form: RegExp): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) ? input : undefined;
  if (typeof input !== 'string') return undefined;
  const text = input.trim();
  if (!form.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** The strict parse, then the caller's own test. */
function strictUrl(input: unknown, options: UrlOptions & { readonly credentials?: boolean }): URL | undefined {
  const url = parseStrictUrl(input, options);
  return url && options.refine?.test(url) !== false ? url : undefined;
}

function describeUrl(options: UrlOptions): string {
  if (options.refine) return options.refine.expected;
  if (options.expected) return options.expected;
  return options.protocols ? `a URL (${options.protocols.map((p) => `${p}://`).join(', ')})` : 'a URL';
}
