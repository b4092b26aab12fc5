// Signed callback data. Telegram gives a button 64 bytes of data and hands them back verbatim
// when it is pressed — from any client, so from anyone who crafts a request. The data carries
// an HMAC-SHA256 of its payload (and of the user it is bound to), truncated to the room left.
//
// Layout: <action>[|<arg>]...~<mark><mac>
//   mark '-'                 : any user may press it
//   mark '=' + 4-char tag    : bound to one user; the tag (a keyed hash of the user id) tells
//                              "another user's button" apart from "forged"
//   mac                      : base64url HMAC, as long as fits (at least MIN_MAC_CHARS)
import { createHash, createHmac, createSecretKey, timingSafeEqual } from 'node:crypto';
import { DianaError, revealSecret } from '@diana/utils';
import { LRUCache } from 'lru-cache';
import type { SecurityConfigInput } from './config.js';
import { SECURITY_ERROR_CODES } from './errors.js';
import { parseSecurityConfig } from './settings.js';

/** Fewest signature characters accepted: 11 base64url characters = 66 bits. */
export const MIN_MAC_CHARS = 11;
/** Longest signature written: the whole HMAC-SHA256 (43 base64url characters). */
const MAX_MAC_CHARS = 43;
const LIMIT_BYTES = 64;
const ACTION = /^[a-z][a-z0-9_.]{0,31}$/;
const ARG = /^[A-Za-z0-9_.:-]*$/;

/** A verified press: the action and its arguments (as strings). */
export interface VerifiedCallback {
  readonly action: string;
  readonly args: readonly string[];
}

/** Signs and verifies callback data with `callback_secret`. */
export interface CallbackSigner {
  /** Data for a button: `action` (`[a-z][a-z0-9_.]{0,31}`) and args (`[A-Za-z0-9_.:-]*`, or integers). */
  sign(action: string, args?: readonly (string | number)[], options?: { userId?: number | string }): string;
  /** The action and args, or `E_SECURITY_CALLBACK_TAMPERED` / `E_SECURITY_CALLBACK_WRONG_USER` / `E_SECURITY_CALLBACK_MALFORMED`. */
  verify(data: string, options?: { userId?: number | string }): VerifiedCallback;
  /** True when `data` is in the signed layout (so a router can tell our buttons from others). */
  isSigned(data: string): boolean;
}

const fail = (code: string, message: string, context?: Record<string, unknown>): never => {
  throw new DianaError(code, message, context ? { context } : {});
};

/** One key's MAC and user tags: the current key signs, it and the one before it verify. */
function keyed(key: string) {
  // the key prepared once (the same bytes as the string: its UTF-8), not at every HMAC
  const secret = createSecretKey(Buffer.from(key, 'utf8'));
  const mac = (kind: string, subject: string, payload: string) =>
    createHmac('sha256', secret).update(`${kind}\u0000${subject}\u0000${payload}`).digest('base64url');
  // A user's tag is the same on each of their buttons (a keyboard signs many at once), so the
  // tags of recent users are remembered rather than computed per button and per press.
  const tags = new LRUCache<string, string>({ max: 10_000 });
  const userTag = (userId: string) => {
    let tag = tags.get(userId);
    if (tag === undefined) {
      tag = mac('user', userId, '').slice(0, 4);
      tags.set(userId, tag);
    }
    return tag;
  };
  return { mac, userTag };
}

/**
 * A signer with `config.callback_secret` (required, at least 32 characters). With
 * `callback_secret_previous`, buttons signed with that key before a rotation still verify; new
 * ones are signed with `callback_secret`.
 */
export function createCallbackSigner(config: SecurityConfigInput): CallbackSigner {
  const settings = parseSecurityConfig(config);
  const current = keyed(
    settings.callback_secret
      ? revealSecret(settings.callback_secret)
      : fail(SECURITY_ERROR_CODES.SECURITY_CONFIG, 'callback_secret is required to sign callback data'),
  );
  const previous = settings.callback_secret_previous
    ? keyed(revealSecret(settings.callback_secret_previous))
    : undefined;

  /** Why `key` does not verify a parsed press (a code and a message), or undefined when it does. */
  const refusal = (
    key: ReturnType<typeof keyed>,
    press: { payload: string; tag: string | undefined; signature: string; user: string | undefined },
  ): [code: string, message: string] | undefined => {
    if (press.tag !== undefined && !safeEqual(press.tag, key.userTag(press.user as string)))
      return [SECURITY_ERROR_CODES.CALLBACK_WRONG_USER, 'this button belongs to another user'];
    const expected = key
      .mac('callback', press.tag !== undefined ? (press.user as string) : '', press.payload)
      .slice(0, press.signature.length);
    if (!safeEqual(press.signature, expected))
      return [SECURITY_ERROR_CODES.CALLBACK_TAMPERED, 'callback data signature does not match'];
    return undefined;
  };

  return {
    sign(action, args = [], options = {}) {
      if (!ACTION.test(action))
        fail(SECURITY_ERROR_CODES.CALLBACK_MALFORMED, 'an action is [a-z][a-z0-9_.]{0,31}', { action });
      const parts = args.map((arg) => {
        const text = typeof arg === 'number' && Number.isSafeInteger(arg) ? String(arg) : arg;
        if (typeof text !== 'string' || !ARG.test(text))
          fail(SECURITY_ERROR_CODES.CALLBACK_MALFORMED, 'an argument is an integer or [A-Za-z0-9_.:-]*', {
            arg: String(arg).slice(0, 64),
          });
        return text as string;
      });
      const payload = [action, ...parts].join('|');
      const user = options.userId === undefined ? undefined : String(options.userId);
      const mark = user === undefined ? '-' : `=${current.userTag(user)}`;
      const room = LIMIT_BYTES - payload.length - 1 - mark.length;
      if (room < MIN_MAC_CHARS)
        fail(
          SECURITY_ERROR_CODES.CALLBACK_OVERSIZE,
          `callback data needs ${payload.length + 1 + mark.length + MIN_MAC_CHARS} bytes; Telegram allows ${LIMIT_BYTES}`,
          { action, bytes: payload.length + 1 + mark.length + MIN_MAC_CHARS },
        );
      const signature = current.mac('callback', user ?? '', payload).slice(0, Math.min(room, MAX_MAC_CHARS));
      return `${payload}~${mark}${signature}`;
    },

    verify(data, options = {}) {
      if (typeof data !== 'string' || Buffer.byteLength(data, 'utf8') > LIMIT_BYTES)
        fail(SECURITY_ERROR_CODES.CALLBACK_MALFORMED, 'callback data longer than 64 bytes');
      const at = data.lastIndexOf('~');
      const payload = data.slice(0, at);
      const rest = data.slice(at + 1);
      const bound = rest.startsWith('=');
      const signature = bound ? rest.slice(5) : rest.slice(1);
      const [action = '', ...args] = payload.split('|');
      if (
        at < 0 ||
        !(bound || rest.startsWith('-')) ||
        signature.length < MIN_MAC_CHARS ||
        !/^[A-Za-z0-9_-]+$/.test(signature) ||
        !ACTION.test(action) ||
        !args.every((arg) => ARG.test(arg))
      )
        fail(SECURITY_ERROR_CODES.CALLBACK_MALFORMED, 'callback data is not signed data');
      const user = options.userId === undefined ? undefined : String(options.userId);
      if (bound && user === undefined)
        fail(SECURITY_ERROR_CODES.CALLBACK_WRONG_USER, 'this button belongs to one user; verify with userId');
      const press = { payload, tag: bound ? rest.slice(1, 5) : undefined, signature, user };
      // the current key, then the one before a rotation; what the current key says is the answer
      const refused = refusal(current, press);
      if (refused && !(previous && refusal(previous, press) === undefined)) fail(refused[0], refused[1], { action });
      return Object.freeze({ action, args: Object.freeze(args) });
    },

    isSigned(data) {
      return /~[-=][A-Za-z0-9_-]{11,}$/.test(data);
    },
  };
}

/**
 * Constant-time comparison of two strings of any lengths: both are hashed to 32 bytes first,
 * so neither where they differ nor how long the expected one is shows in the timing.
 */
export function safeEqual(a: string, b: string): boolean {
  const left = createHash('sha256').update(a).digest();
  const right = createHash('sha256').update(b).digest();
  return timingSafeEqual(left, right);
}
