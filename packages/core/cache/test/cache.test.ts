import { describe, expect, it } from 'vitest';
import { createCache } from '../src/cache.js';
import { deserialize, jitteredTtl, serialize } from '../src/entry.js';
import { describeCache } from '../src/testing.js';

describeCache('in-process only', (config, deps) => createCache(config, deps));

describe('entries', () => {
  it('keeps Dates, BigInts and Maps through serialization, and spreads TTLs', () => {
    const value = { at: new Date(0), big: 2n ** 70n, map: new Map([['a', 1]]) };
    expect(deserialize(serialize(value))).toEqual(value);
    const ttls = Array.from({ length: 200 }, (_, i) => jitteredTtl(1_000, 0.1, () => i / 199));
    expect(Math.min(...ttls)).toBe(900);
    expect(Math.max(...ttls)).toBe(1_100);
    expect(jitteredTtl(1_000, 0)).toBe(1_000);
  });
});
