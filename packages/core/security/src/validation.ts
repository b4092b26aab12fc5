import { parseOrThrow } from '@diana/utils';
import * as v from 'valibot';
import { SECURITY_ERROR_CODES } from './errors.js';

const utf8Bytes = (s: string) => Buffer.byteLength(s, 'utf8');

/** Schemas of what Telegram (or a user through it) sends us. */
export const TelegramInput = Object.freeze({
  /** A user's id: a positive integer below 2^53. */
  userId: v.pipe(v.number(), v.safeInteger('must be an integer'), v.minValue(1, 'must be positive')),
  /** A chat's id (negative for groups and channels) or a channel's `@username`. */
  chatId: v.union([
    v.pipe(
      v.number(),
      v.safeInteger(),
      v.check((n) => n !== 0, 'must not be 0'),
    ),
    v.pipe(v.string(), v.regex(/^@[A-Za-z][A-Za-z0-9_]{3,31}$/, 'must be @ and a username')),
  ]),
  /** A message's text: 1–4 096 characters. */
  messageText: v.pipe(
    v.string(),
    v.minLength(1, 'must not be empty'),
    v.maxLength(4_096, 'must be at most 4096 characters'),
  ),
  /** A media caption: at most 1 024 characters. */
  caption: v.pipe(v.string(), v.maxLength(1_024, 'must be at most 1024 characters')),
  /** A button's callback data: 1–64 bytes of UTF-8. */
  callbackData: v.pipe(
    v.string(),
    v.check((s) => s.length > 0 && utf8Bytes(s) <= 64, 'must be 1–64 bytes'),
  ),
  /** The payload of `/start <payload>` (a deep link): 1–64 of A-Z a-z 0-9 _ -. */
  startPayload: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/, 'must be 1–64 characters of A-Z a-z 0-9 _ -')),
  /** A username without `@`: 5–32 characters, a letter first, then letters, digits and _. */
  username: v.pipe(v.string(), v.regex(/^[A-Za-z][A-Za-z0-9_]{4,31}$/, 'must be a Telegram username')),
});

/** `value` as `schema`'s output, or a `ValidationError` `E_SECURITY_INPUT_INVALID` listing every issue with its path. */
export function validateInput<S extends v.GenericSchema>(schema: S, value: unknown): v.InferOutput<S> {
  return parseOrThrow(schema, value, { code: SECURITY_ERROR_CODES.INPUT_INVALID, message: 'invalid input' });
}

/** `value` as `schema`'s output, or a `ValidationError` `E_SECURITY_OUTPUT_INVALID`: for what the bot sends. */
export function validateOutput<S extends v.GenericSchema>(schema: S, value: unknown): v.InferOutput<S> {
  return parseOrThrow(schema, value, { code: SECURITY_ERROR_CODES.OUTPUT_INVALID, message: 'invalid output' });
}
