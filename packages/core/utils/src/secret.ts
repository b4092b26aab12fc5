import { inspect } from 'node:util';
import { parseStrictUrl } from './url.js';

const SECRET_BRAND: unique symbol = Symbol.for('diana.secret');

/**
 * A value that never shows itself: `JSON.stringify`, `util.inspect`, template strings and
 * pino all see only its label. `reveal()` is the one way to read it.
 */
export interface Secret<T = string> {
  readonly [SECRET_BRAND]: true;
  reveal(): T;
  toJSON(): string;
  toString(): string;
}

/** Wraps `value`; `label` is what it shows instead (a masked URL, say). */
export function createSecret<T>(value: T, label = '[secret]'): Secret<T> {
  return Object.freeze({
    [SECRET_BRAND]: true as const,
    reveal: () => value,
    toJSON: () => label,
    toString: () => label,
    [inspect.custom]: () => `Secret(${label})`,
  });
}

/** True for values made by `createSecret`. */
export function isSecret(value: unknown): value is Secret<unknown> {
  return typeof value === 'object' && value !== null && (value as Record<symbol, unknown>)[SECRET_BRAND] === true;
}

/** The inner value of a secret, or the value itself when it is not one. */
export function revealSecret<T>(value: T | Secret<T>): T {
  return isSecret(value) ? (value as Secret<T>).reveal() : (value as T);
}

/**
 * A URL with its password and its whole query replaced by `***`, without its fragment, for
 * display. The query is masked whole: drivers read credentials from many of its values
 * (`password`, `sslpassword`, `authMechanismProperties`...), and a password with an unencoded
 * `?` (`app:pw1@db?pw2…`) puts its tail in a key. Anything that is not a well-formed
 * `scheme://host` URL shows as `[invalid url]`: there is no telling which part is the password.
 */
export function maskUrl(raw: string): string {
  const url = parseStrictUrl(raw);
  if (!url) return '[invalid url]';
  if (url.password) url.password = '***';
  if (url.search) url.search = '***';
  url.hash = '';
  return url.toString();
}
