// The public API of @diana/gamification, pinned: a value export added, renamed or removed fails this type
// test until the list changes with it (the README's API section follows it: pnpm lint checks).
import { describe, expectTypeOf, it } from 'vitest';
import type * as api from '../src/index.js';

describe('@diana/gamification public API', () => {
  it('exports exactly these values', () => {
    expectTypeOf<keyof typeof api>().toEqualTypeOf<
      | 'ACHIEVEMENTS'
      | 'BESITOS_ERROR_CODES'
      | 'BESITOS_MAX'
      | 'GAMIFICATION_ERROR_CODES'
      | 'GAMIFICATION_EVENTS'
      | 'GAMIFICATION_MIGRATIONS'
      | 'GAMIFICATION_TEMPLATES'
      | 'LEDGER_ERROR_CODES'
      | 'MISSIONS'
      | 'NOTICE_GROUP'
      | 'REWARDS'
      | 'SHOP'
      | 'TEXTS'
      | 'checkLedgerInvariants'
      | 'createGamificationModule'
      | 'createLedger'
      | 'parseBesitos'
    >();
  });
});
