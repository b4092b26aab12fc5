// bus.subscribeModule: a module names the events it consumes as strings (it imports no other
// module); the bus subscribes those its registry holds and reports the rest as skipped.
import * as v from 'valibot';
import { afterAll, describe, expect, it } from 'vitest';
import { createMemoryTransport } from '../src/adapters/memory.js';
import { createEventBus } from '../src/bus.js';
import { defineEvents, type EventEnvelope } from '../src/events.js';

const EVENTS = defineEvents({ 'test.known': v.object({ n: v.number() }) });
const bus = createEventBus({ block_ms: 20 }, { transport: createMemoryTransport(), events: EVENTS });
afterAll(() => bus.close({ timeout_ms: 1_000 }));

const waitFor = async (check: () => boolean, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
};

describe('subscribeModule', () => {
  it('subscribes the known types in the group, skips the unknown ones and says which', async () => {
    const seen: number[] = [];
    const handler = async (event: EventEnvelope) => {
      seen.push((event.payload as { n: number }).n);
    };
    const { subscription, skipped } = bus.subscribeModule({
      group: 'module-a',
      types: ['test.known', 'test.nobody_publishes'],
      handler,
    });
    expect(subscription).toBeDefined();
    expect(skipped).toEqual(['test.nobody_publishes']);
    await bus.publish('test.known', { n: 1 });
    expect(await waitFor(() => seen.length === 1)).toBe(true);
    expect(seen).toEqual([1]);
    expect(bus.loops().some((loop) => loop.group === 'module-a')).toBe(true);
  });

  it('subscribes nothing when no type is known, and broadcasts in broadcast mode', async () => {
    const none = bus.subscribeModule({ group: 'module-b', types: ['test.other'], handler: async () => {} });
    expect(none).toEqual({ skipped: ['test.other'] });
    expect(bus.loops().some((loop) => loop.group === 'module-b')).toBe(false);

    const seen: number[] = [];
    const broadcast = bus.subscribeModule({
      group: 'module-c',
      types: ['test.known'],
      mode: 'broadcast',
      handler: async (event) => {
        seen.push((event.payload as { n: number }).n);
      },
    });
    expect(broadcast.skipped).toEqual([]);
    // a broadcast reader starts at the stream's end, once it has read it: publish until one arrives
    const deadline = Date.now() + 5_000;
    while (seen.length === 0 && Date.now() < deadline) {
      await bus.publish('test.known', { n: 2 });
      await waitFor(() => seen.length > 0, 200);
    }
    expect(seen[0]).toBe(2);
  });
});
