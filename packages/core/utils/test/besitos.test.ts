import fc from 'fast-check';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { BESITOS_MAX, besitosAdjustment, besitosAmount, parseBesitos } from '../src/besitos.js';
import { isDianaError } from '../src/errors.js';

/** The refusal's reason, or 'accepted'. */
const reasonOf = (text: string) => {
  try {
    parseBesitos(text);
    return 'accepted';
  } catch (error) {
    if (!isDianaError(error, 'E_UTILS_BESITOS_INVALID')) throw error;
    return (error.context as { reason: string }).reason;
  }
};

describe('parseBesitos', () => {
  it.each([
    ['1e21', 'not_digits'],
    ['0x10', 'not_digits'],
    ['9007199254740993', 'too_large'],
    ['-5', 'not_digits'],
    ['0', 'zero'],
    ['1.5', 'not_digits'],
    [' 12', 'not_digits'],
    ['12 ', 'not_digits'],
    ['١٢', 'not_digits'], // Arabic-Indic digits
    ['１２', 'not_digits'], // fullwidth digits
    ['+12', 'not_digits'],
    ['012', 'not_digits'],
    ['', 'not_digits'],
    ['Infinity', 'not_digits'],
    [String(BESITOS_MAX + 1), 'too_large'],
  ])('refuses %j with the reason %s', (text, reason) => {
    expect(reasonOf(text)).toBe(reason);
  });

  it('reads plain amounts from 1 to BESITOS_MAX', () => {
    expect(parseBesitos('1')).toBe(1);
    expect(parseBesitos('15')).toBe(15);
    expect(parseBesitos(String(BESITOS_MAX))).toBe(BESITOS_MAX);
  });

  it('property: accepts exactly the plain decimal writing of 1..BESITOS_MAX, and returns that number', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: BESITOS_MAX }), (n) => {
        expect(parseBesitos(String(n))).toBe(n);
      }),
    );
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 12 }), (text) => {
        const plain = /^[1-9][0-9]*$/.test(text) && Number(text) <= BESITOS_MAX;
        const result = reasonOf(text);
        if (plain) expect(result).toBe('accepted');
        else expect(result).not.toBe('accepted');
      }),
    );
    // whatever number-like text it is given, an accepted amount is a safe integer in range
    let accepted = 0;
    fc.assert(
      fc.property(
        fc.oneof(
          fc.double().map(String),
          fc.bigInt().map(String),
          fc.integer().map((n) => `0x${n.toString(16)}`),
          // amounts in range too: without them a run could draw no accepted text at all (1 CI run did)
          fc.integer({ min: -10, max: BESITOS_MAX + 10 }).map(String),
        ),
        (text) => {
          if (reasonOf(text) !== 'accepted') return;
          accepted++;
          const n = parseBesitos(text);
          expect(Number.isSafeInteger(n) && n >= 1 && n <= BESITOS_MAX).toBe(true);
          expect(String(n)).toBe(text);
        },
      ),
    );
    expect(accepted).toBeGreaterThan(0); // the property held for some accepted text, not none
  });

  it('the schemas bound events and config the same way', () => {
    for (const bad of [0, -1, 1.5, 1e21, BESITOS_MAX + 1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(v.safeParse(besitosAmount(), bad).success, String(bad)).toBe(false);
    expect(v.safeParse(besitosAmount(), BESITOS_MAX).success).toBe(true);
    for (const bad of [0, 1.5, -BESITOS_MAX - 1, 1e21, -1e21])
      expect(v.safeParse(besitosAdjustment(), bad).success, String(bad)).toBe(false);
    expect(v.safeParse(besitosAdjustment(), -BESITOS_MAX).success).toBe(true);
  });
});
