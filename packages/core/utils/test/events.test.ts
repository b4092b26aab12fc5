import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { createEventWaiter } from '../src/events.js';

describe('createEventWaiter', () => {
  it('resolves every waiter on the next event with one listener, and rejects one past its deadline', async () => {
    const emitter = new EventEmitter();
    const wait = createEventWaiter(emitter, 'ready', () => 'not ready');
    const late = wait(10);
    const waiters = [wait(5_000), wait(5_000), wait(5_000)];
    expect(emitter.listenerCount('ready')).toBe(1);
    await expect(late).rejects.toThrow('not ready');
    emitter.emit('ready');
    await Promise.all(waiters);
    expect(emitter.listenerCount('ready')).toBe(0);
  });
});
