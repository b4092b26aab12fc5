// The public API of @diana/admin, pinned: a value export added, renamed or removed fails this type
// test until the list changes with it (the README's API section follows it: pnpm lint checks).
import { describe, expectTypeOf, it } from 'vitest';
import type * as api from '../src/index.js';

describe('@diana/admin public API', () => {
  it('exports exactly these values', () => {
    expectTypeOf<keyof typeof api>().toEqualTypeOf<
      | 'ADMIN_ERROR_CODES'
      | 'ADMIN_EVENTS'
      | 'ADMIN_MIGRATIONS'
      | 'MESSAGE_LIMIT'
      | 'STAFF_COMMANDS'
      | 'TEXTS'
      | 'createAdminModule'
      | 'formatHumanDate'
      | 'formatHumanMoment'
      | 'formatLocalTime'
      | 'parseLocalTime'
      | 'parseTelegramId'
      | 'splitMessage'
      | 'staffCommandMenu'
      | 'staffCommandsFor'
    >();
  });
});
