// The events and timings of the conformance suite, importable without vitest (workers use them).
import * as v from 'valibot';
import type { EventBusConfigInput } from './config.js';
import { defineEvents } from './events.js';

/** Events the suite publishes. */
export const CONFORMANCE_EVENTS = defineEvents({
  'test.happened': v.object({ n: v.number() }),
  'test.keyed': v.object({ key: v.string(), seq: v.number() }),
});

/** Fast timings for tests. */
export const CONFORMANCE_CONFIG: EventBusConfigInput = {
  block_ms: 50,
  batch_size: 50,
  max_attempts: 3,
  backoff_base_ms: 40,
  backoff_max_ms: 200,
  handler_timeout_ms: 5_000,
  claim_idle_ms: 400,
  claim_interval_ms: 100,
  trim_interval_ms: 60_000,
};
