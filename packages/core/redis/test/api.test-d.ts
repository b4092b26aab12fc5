// The public API of @diana/redis, pinned: a value export added, renamed or removed fails this type
// test until the list changes with it (the README's API section follows it: pnpm lint checks).
import { describe, expectTypeOf, it } from 'vitest';
import type * as api from '../src/index.js';

describe('@diana/redis public API', () => {
  it('exports exactly these values', () => {
    expectTypeOf<keyof typeof api>().toEqualTypeOf<
      | 'REDIS_ERROR_CODES'
      | 'REDIS_RETRY_MAX_MS'
      | 'REDIS_RETRY_STEP_MS'
      | 'createRedisConnector'
      | 'evictionRisk'
      | 'explainRedisError'
      | 'isCluster'
      | 'mastersOf'
      | 'persistenceRisk'
      | 'quitWithin'
      | 'readAppendOnly'
      | 'readEvictionPolicies'
      | 'redisRetryDelay'
    >();
  });
});
