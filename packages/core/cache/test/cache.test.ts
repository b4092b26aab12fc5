import { isDianaError } from '@diana/utils';
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

  it('refuses binary data, which superjson would not give back as written (nor weigh by its bytes)', async () => {
    for (const value of [Buffer.from('a'), new ArrayBuffer(8), new DataView(new ArrayBuffer(8)), [new Uint8Array(2)]])
      expect(
        isDianaError(
          (() => {
            try {
              serialize(value);
            } catch (e) {
              return e;
            }
          })(),
          'E_CACHE_VALUE',
        ),
      ).toBe(true);
    // the memory tier's byte bound held: an ArrayBuffer used to weigh 2 bytes (its text, `{}`)
    const cache = createCache({ l1_max_bytes: 1_024 });
    const error = await cache.set('big', new ArrayBuffer(1 << 20)).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_CACHE_VALUE')).toBe(true);
    expect(cache.stats()).toMatchObject({ l1_entries: 0, l1_bytes: 0 });
    await cache.close();
  });
});
