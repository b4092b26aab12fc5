import { describe, expect, it } from 'vitest';
import { isUnstorableText, unstorablePaths } from '../src/jsonb.js';

describe('what jsonb cannot hold', () => {
  it('finds U+0000 and lone surrogates, high or low, in strings and keys; a whole pair is fine', () => {
    expect(isUnstorableText('nul\u0000')).toBe(true);
    expect(isUnstorableText('half \ud83d')).toBe(true);
    expect(isUnstorableText('\ude18 half')).toBe(true);
    expect(isUnstorableText('kiss \ud83d\ude18')).toBe(false);
    expect(isUnstorableText('')).toBe(false);
    const value = { a: ['ok', 'x\u0000'], 'k\ud800': 1, b: { c: '\udc00', d: 2, e: null } };
    expect(unstorablePaths(value)).toEqual([['a', '1'], ['k\ud800'], ['b', 'c']]);
    expect(unstorablePaths({ a: ['😘', { b: 'fine' }], n: 1, t: true })).toEqual([]);
    expect(unstorablePaths('\u0000')).toEqual([[]]);
  });
});
