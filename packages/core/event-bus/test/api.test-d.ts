// The public API of @diana/event-bus, pinned: a value export added, renamed or removed fails this type
// test until the list changes with it (the README's API section follows it: pnpm lint checks).
import { describe, expectTypeOf, it } from 'vitest';
import type * as api from '../src/index.js';

describe('@diana/event-bus public API', () => {
  it('exports exactly these values', () => {
    expectTypeOf<keyof typeof api>().toEqualTypeOf<
      | 'DEFAULT_MAX_ATTEMPTS'
      | 'EVENT_BUS_ERROR_CODES'
      | 'EVENT_BUS_MIGRATIONS'
      | 'EventBusConfig'
      | 'OUTBOX_CHANNEL'
      | 'createEventBus'
      | 'createInbox'
      | 'createMemoryTransport'
      | 'createOutboxRelay'
      | 'decodeEnvelope'
      | 'defineEvents'
      | 'encodeEnvelope'
      | 'inboxRetentionTooShort'
      | 'mergeEvents'
      | 'validatePayload'
    >();
  });
});
