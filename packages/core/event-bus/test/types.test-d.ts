// Type tests, checked by `vitest --typecheck` (see vitest.config.ts): payloads are typed by
// event type on publish and in handlers; unknown types and wrong payloads do not compile.
import { describe, expectTypeOf, it } from 'vitest';
import { createMemoryTransport } from '../src/adapters/memory.js';
import { createEventBus, type EventOf } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/conformance-events.js';
import type { EventType, Payload } from '../src/events.js';

type Events = typeof CONFORMANCE_EVENTS;
const bus = createEventBus(CONFORMANCE_CONFIG, { transport: createMemoryTransport(), events: CONFORMANCE_EVENTS });

describe('event types', () => {
  it('names the types and their payloads from the registry', () => {
    expectTypeOf<EventType<Events>>().toEqualTypeOf<'test.happened' | 'test.keyed'>();
    expectTypeOf<Payload<Events, 'test.keyed'>>().toEqualTypeOf<{ key: string; seq: number }>();
  });

  it('types publish by event type', () => {
    expectTypeOf(bus.publish('test.happened', { n: 1 })).resolves.toEqualTypeOf<EventOf<Events, 'test.happened'>>();
    expectTypeOf<EventOf<Events, 'test.happened'>['payload']>().toEqualTypeOf<{ n: number }>();
    // nothing here runs: the file is only type-checked
    // @ts-expect-error: n must be a number
    void bus.publish('test.happened', { n: 'one' });
    // @ts-expect-error: unknown event type
    void bus.publish('test.unknown', { n: 1 });
    // @ts-expect-error: the payload of another type
    void bus.publish('test.keyed', { n: 1 });
  });

  it('types handler payloads by subscribed type, for groups and broadcasts', () => {
    bus.subscribe('typed', 'test.keyed', (event) => {
      expectTypeOf(event.payload).toEqualTypeOf<{ key: string; seq: number }>();
      expectTypeOf(event.type).toEqualTypeOf<'test.keyed'>();
    });
    bus.subscribe('both', ['test.keyed', 'test.happened'], (event) => {
      expectTypeOf(event.payload).toEqualTypeOf<{ key: string; seq: number } | { n: number }>();
    });
    bus.subscribe(
      'test.happened',
      (event) => {
        expectTypeOf(event.payload).toEqualTypeOf<{ n: number }>();
      },
      { mode: 'broadcast' },
    );
    // @ts-expect-error: unknown event type
    bus.subscribe('typed', 'test.unknown', () => {});
  });
});
