// The one range of a besitos amount, shared by every place an amount comes in (an admin's
// command, an event, a config value): plain integers 1..BESITOS_MAX. Number() alone accepted
// `1e21`, `0x10` and ` 12` and rounded `9007199254740993`.
import * as v from 'valibot';
import { DianaError } from './errors.js';

/** The largest amount of besitos one award, spend, grant or price may carry. */
export const BESITOS_MAX = 1_000_000;

/** Codes of the errors this module raises. */
export const BESITOS_ERROR_CODES = Object.freeze({
  /** Not a plain amount of besitos (see `context.reason`). */
  INVALID: 'E_UTILS_BESITOS_INVALID',
} as const);

/** Why a text is not an amount: `not_digits` (anything but 0–9, a leading zero), `zero`, `too_large`. */
export type BesitosRefusal = 'not_digits' | 'zero' | 'too_large';

const refuse = (text: string, reason: BesitosRefusal, message: string) =>
  new DianaError(BESITOS_ERROR_CODES.INVALID, message, {
    context: { reason, text: text.slice(0, 40), max: BESITOS_MAX },
  });

/**
 * Reads an amount typed by a person: ASCII decimal digits only (no sign, spaces, exponent,
 * hex, decimals, leading zero or other scripts' digits), 1..BESITOS_MAX. Anything else throws
 * `E_UTILS_BESITOS_INVALID` with `context.reason`, before the caller writes anything.
 */
export function parseBesitos(text: string): number {
  if (text === '0') throw refuse(text, 'zero', 'an amount of besitos is at least 1');
  if (!/^[1-9][0-9]*$/.test(text))
    throw refuse(text, 'not_digits', 'an amount of besitos is written with the digits 0-9 only');
  // compared as text first: a long digit string would lose precision as a number
  if (text.length > String(BESITOS_MAX).length || Number(text) > BESITOS_MAX)
    throw refuse(text, 'too_large', `an amount of besitos is at most ${BESITOS_MAX}`);
  return Number(text);
}

/** Schema of an amount of besitos (events, config): an integer 1..BESITOS_MAX. */
export const besitosAmount = () => v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(BESITOS_MAX));

/** Schema of a signed adjustment: an integer, not 0, at most BESITOS_MAX either way. */
export const besitosAdjustment = () =>
  v.pipe(
    v.number(),
    v.integer(),
    v.minValue(-BESITOS_MAX),
    v.maxValue(BESITOS_MAX),
    v.check((n) => n !== 0, 'must not be 0'),
  );
