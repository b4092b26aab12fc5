// What PostgreSQL's jsonb (and text) cannot hold: U+0000, and a surrogate without its pair.
// A value with either passes JSON.stringify, then fails the write with a query error; callers
// check first and refuse it as invalid input instead.

// biome-ignore lint/suspicious/noControlCharactersInRegex: U+0000 is what is looked for
const UNSTORABLE = /[\u0000\p{Cs}]/u;

/** True when `text` holds U+0000 or a lone surrogate (a whole pair is fine). */
export function isUnstorableText(text: string): boolean {
  return UNSTORABLE.test(text);
}

/**
 * The paths (keys and indexes from the root) of the strings and keys of a JSON value that
 * jsonb cannot hold; empty when it can hold all of it.
 */
export function unstorablePaths(value: unknown, path: readonly string[] = []): string[][] {
  if (typeof value === 'string') return UNSTORABLE.test(value) ? [[...path]] : [];
  if (Array.isArray(value)) return value.flatMap((item, i) => unstorablePaths(item, [...path, String(i)]));
  if (value === null || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, item]) => [
    ...(UNSTORABLE.test(key) ? [[...path, key]] : []),
    ...unstorablePaths(item, [...path, key]),
  ]);
}
