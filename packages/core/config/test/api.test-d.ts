// The public API of @diana/config, pinned: a value export added, renamed or removed fails this type
// test until the list changes with it (the README's API section follows it: pnpm lint checks).
import { describe, expectTypeOf, it } from 'vitest';
import type * as api from '../src/index.js';

describe('@diana/config public API', () => {
  it('exports exactly these values', () => {
    expectTypeOf<keyof typeof api>().toEqualTypeOf<
      | 'CONFIG_ERROR_CODES'
      | 'CONFIG_EVENTS'
      | 'CONFIG_MIGRATIONS'
      | 'ConfigManagerConfig'
      | 'RedisConfig'
      | 'SETTINGS_ALIASES'
      | 'TEMPLATE_TYPES'
      | 'checkTemplateValues'
      | 'configReader'
      | 'createConfigManager'
      | 'deepFreeze'
      | 'defineTemplate'
      | 'getVariableName'
      | 'loadSettings'
    >();
  });
});
