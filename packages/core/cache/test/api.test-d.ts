// The public API of @diana/cache, pinned: a value export added, renamed or removed fails this type
// test until the list changes with it (the README's API section follows it: pnpm lint checks).
import { describe, expectTypeOf, it } from 'vitest';
import type * as api from '../src/index.js';

describe('@diana/cache public API', () => {
  it('exports exactly these values', () => {
    expectTypeOf<keyof typeof api>().toEqualTypeOf<
      | 'CACHE_ERROR_CODES'
      | 'CacheConfig'
      | 'DEFAULT_CACHE_GRACE'
      | 'DEFAULT_CACHE_TTL'
      | 'DEFAULT_L1_MAX_BYTES'
      | 'DEFAULT_L1_MAX_ENTRIES'
      | 'createCache'
    >();
  });
});
