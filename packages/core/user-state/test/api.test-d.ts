// The public API of @diana/user-state, pinned: a value export added, renamed or removed fails this type
// test until the list changes with it (the README's API section follows it: pnpm lint checks).
import { describe, expectTypeOf, it } from 'vitest';
import type * as api from '../src/index.js';

describe('@diana/user-state public API', () => {
  it('exports exactly these values', () => {
    expectTypeOf<keyof typeof api>().toEqualTypeOf<
      | 'DEFAULT_STATE_CACHE_TTL'
      | 'DEFAULT_STATE_MAX_ATTEMPTS'
      | 'DEFAULT_STATE_UPDATE_DEADLINE'
      | 'USER_STATE_ERROR_CODES'
      | 'USER_STATE_EVENTS'
      | 'USER_STATE_MIGRATIONS'
      | 'UserStateConfig'
      | 'createMemorySliceStore'
      | 'createPostgresSliceStore'
      | 'createUserStateManager'
      | 'defineSlice'
    >();
  });
});
