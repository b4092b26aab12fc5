import { DianaError } from '@diana/utils';
import { cutText } from './cut.js';

/** Codes of the errors this package raises. */
export const ADMIN_ERROR_CODES = Object.freeze({
  /** A chat or user id typed by staff that is not an exact whole number (nothing was written). */
  BAD_ID: 'E_ADMIN_BAD_ID',
} as const);

/**
 * A Telegram id as staff type it: digits with an optional leading '-', small enough to be
 * exact in a JavaScript number. `Number('9007199254740993')` is 9007199254740992 — another
 * chat — so anything past 2^53 − 1 is refused rather than rounded.
 */
export function parseTelegramId(text: string): number {
  const value = /^-?\d{1,16}$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(value) || value === 0)
    throw new DianaError(ADMIN_ERROR_CODES.BAD_ID, `not a Telegram id: ${cutText(text, 40)}`, {
      context: { text: cutText(text, 40) },
    });
  return value;
}
