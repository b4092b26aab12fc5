/** What replaces a scrubbed secret. */
export const REDACTED = '[REDACTED]';

// Each rule keeps the non-secret part of a match (scheme, user, parameter name) so the
// surrounding message stays readable. Character classes stop at `"` and `\` so the rules work
// on serialized JSON as well as on raw strings.
//
// Every rule runs in time linear in the input: a line can hold a 200 KB base64 blob or a long
// id run. The regex rules below have no quantifier that can be retried from each start of a long
// run (each start either fails at once or consumes a bounded or final stretch). The URL
// credential rule is a scanner (`scrubUrlCredentials`): as a regex
// (`[A-Za-z][A-Za-z0-9+.-]*:\/\/…`) it rescanned the rest of a run from every letter of it,
// which made a 40 KB alphanumeric run cost seconds.
const TOKEN_RULE = /(?<!\d)\d{5,16}:[A-Za-z0-9_-]{30,}/g;
const REGEX_RULES_AFTER_URLS: ReadonlyArray<readonly [RegExp, string]> = [
  // Secrets passed as query parameters.
  [/([?&](?:password|passwd|pwd|token|secret|api_?key|access_token|auth)=)[^&\s"'#\\]+/gi, `$1${REDACTED}`],
  // HTTP authorization values.
  [/\b(Bearer|Basic)\s+[A-Za-z0-9._~+/-]+=*/g, `$1 ${REDACTED}`],
];

/**
 * Removes known kinds of secrets (bot tokens, URL credentials, tokens in queries) from a string.
 * Time is linear in the length of `text`.
 */
export function scrubString(text: string): string {
  // Telegram bot token, bare or inside a `/bot<token>/` API URL.
  let out = text.replace(TOKEN_RULE, REDACTED);
  out = scrubUrlCredentials(out);
  for (const [pattern, replacement] of REGEX_RULES_AFTER_URLS) {
    out = out.replace(pattern, replacement);
  }
  return out;
}

const COLON = 0x3a;
const AT = 0x40;

/**
 * Credentials in a URL, `scheme://user:password@host` → `scheme://user:[REDACTED]@host`, with the
 * password running to the last `@` before a space, `/`, `?`, `#`, `"`, `'` or `\` (it may hold
 * unescaped `@` and `:`). Same matches as the global regex
 * `([A-Za-z][A-Za-z0-9+.-]*:\/\/[^\s:@/?#"'\\]*):[^\s/?#"'\\]+@`, found left to right without
 * overlaps, in one pass: each `://` is looked at once, its scheme is the run of scheme
 * characters before it (from the first letter), and the user and password stretches of two
 * `://` never overlap (both stop at `/`), so no character is read more than a few times.
 */
function scrubUrlCredentials(text: string): string {
  const n = text.length;
  let out = '';
  let copied = 0; // text before this index is in `out`
  let from = 0; // a match may not start before this index (the end of the previous one)
  let q = text.indexOf('://');
  while (q !== -1) {
    let runStart = q;
    while (runStart > from && isSchemeChar(text.charCodeAt(runStart - 1))) runStart--;
    let schemeStart = runStart;
    while (schemeStart < q && !isLetter(text.charCodeAt(schemeStart))) schemeStart++;
    if (schemeStart < q) {
      let colon = q + 3;
      while (colon < n && !isUserStop(text.charCodeAt(colon))) colon++;
      if (colon < n && text.charCodeAt(colon) === COLON) {
        let end = colon + 1;
        while (end < n && !isPasswordStop(text.charCodeAt(end))) end++;
        let at = end - 1;
        while (at > colon + 1 && text.charCodeAt(at) !== AT) at--;
        if (at > colon + 1 && text.charCodeAt(at) === AT) {
          out += `${text.slice(copied, colon)}:${REDACTED}@`;
          copied = at + 1;
          from = at + 1;
          q = text.indexOf('://', from);
          continue;
        }
      }
    }
    q = text.indexOf('://', q + 1);
  }
  return copied === 0 ? text : out + text.slice(copied);
}

function isLetter(c: number): boolean {
  return (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a);
}

/** `[A-Za-z0-9+.-]` */
function isSchemeChar(c: number): boolean {
  return isLetter(c) || (c >= 0x30 && c <= 0x39) || c === 0x2b || c === 0x2e || c === 0x2d;
}

/** `[\s/?#"'\\]`: where a password stops. */
function isPasswordStop(c: number): boolean {
  return c === 0x2f || c === 0x3f || c === 0x23 || c === 0x22 || c === 0x27 || c === 0x5c || isRegexSpace(c);
}

/** `[\s:@/?#"'\\]`: where a user name stops. */
function isUserStop(c: number): boolean {
  return c === COLON || c === AT || isPasswordStop(c);
}

/** What `\s` matches in a JavaScript regex. */
function isRegexSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
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
