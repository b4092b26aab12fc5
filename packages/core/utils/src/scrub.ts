/** What replaces a scrubbed secret. */
export const REDACTED = '[REDACTED]';

// Each rule keeps the non-secret part of a match (scheme, user, parameter name) so the
// surrounding message stays readable. Character classes stop at `"` and `\` so the rules work
// on serialized JSON as well as on raw strings.
const SCRUB_RULES: ReadonlyArray<readonly [RegExp, string]> = [
  // Telegram bot token, bare or inside a `/bot<token>/` API URL.
  [/(?<!\d)\d{5,16}:[A-Za-z0-9_-]{30,}/g, REDACTED],
  // Credentials in a URL: scheme://user:password@host (the password may hold unescaped `@`).
  [/([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:@/?#"'\\]*):[^\s/?#"'\\]+@/g, `$1:${REDACTED}@`],
  // Secrets passed as query parameters.
  [/([?&](?:password|passwd|pwd|token|secret|api_?key|access_token|auth)=)[^&\s"'#\\]+/gi, `$1${REDACTED}`],
  // HTTP authorization values.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/-]+=*/g, `$1 ${REDACTED}`],
];

/** Removes known kinds of secrets (bot tokens, URL credentials, tokens in queries) from a string. */
export function scrubString(text: string): string {
  let out = text;
  for (const [pattern, replacement] of SCRUB_RULES) {
    out = out.replace(pattern, replacement);
  }
  return out;
}

/**
 * Returns a copy of `value` with every string scrubbed at any depth, including the message,
 * stack and cause of errors. Cycles are cut; non-plain objects other than errors are kept.
 */
export function scrubDeep<T>(value: T): T {
  return scrubValue(value, new WeakMap()) as T;
}

function scrubValue(value: unknown, seen: WeakMap<object, unknown>): unknown {
  if (typeof value === 'string') return scrubString(value);
  if (value === null || typeof value !== 'object') return value;
  const known = seen.get(value);
  if (known !== undefined) return known;
  if (value instanceof Error) return scrubError(value, seen);
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    seen.set(value, out);
    for (const item of value) out.push(scrubValue(item, seen));
    return out;
  }
  if (!isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  seen.set(value, out);
  for (const [key, item] of Object.entries(value)) out[key] = scrubValue(item, seen);
  return out;
}

function scrubError(error: Error, seen: WeakMap<object, unknown>): Error {
  const copy = Object.create(Object.getPrototypeOf(error)) as Error;
  seen.set(error, copy);
  // Read by value: newer V8 (Node 24) makes `stack` an accessor rather than a data property.
  for (const key of Object.getOwnPropertyNames(error)) {
    const enumerable = Object.getOwnPropertyDescriptor(error, key)?.enumerable ?? false;
    const value = scrubValue((error as unknown as Record<string, unknown>)[key], seen);
    Object.defineProperty(copy, key, { value, enumerable, writable: true, configurable: true });
  }
  return copy;
}

function isPlainObject(value: object): value is Record<string, unknown> {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}
