import { createEventBus, createMemoryTransport, type EventEnvelope } from '@diana/event-bus';
import { FAKE_BOT_INFO, useTestMeter } from '@diana/test-services';
import { createManualClock, isDianaError, newId } from '@diana/utils';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { createMemorySliceStore } from '../src/adapters/memory.js';
import { USER_STATE_EVENTS } from '../src/events.js';
import { type UserStateFlavor, userStateMiddleware } from '../src/grammy.js';
import { createUserStateManager } from '../src/manager.js';
import { defineSlice } from '../src/slice.js';
import { describeSliceStore, describeUserStateManager } from '../src/testing.js';
import type { SliceStore } from '../src/types.js';

describeSliceStore('memory', () => {
  const clock = createManualClock(1_000);
  return {
    store: createMemorySliceStore({ clock }),
    advance: async (ms) => clock.advance(ms),
  };
});

describeUserStateManager('memory homes', () => {
  const clock = createManualClock(1_000);
  const stores = { persistent: createMemorySliceStore({ clock }), ephemeral: createMemorySliceStore({ clock }) };
  return {
    create: (slices, config = {}) => createUserStateManager(config, { slices, stores, clock }),
    advance: async (ms) => clock.advance(ms),
  };
});

const counter = defineSlice('counter', {
  schema: v.object({ n: v.number() }),
  initial: { n: 0 },
  persist: false,
  ttl_ms: 60_000,
});

describe('defineSlice', () => {
  it('refuses definitions that cannot work, with E_STATE_CONFIG', () => {
    const schema = v.object({ n: v.number() });
    const bad = [
      () => defineSlice('Bad-Name', { schema, initial: { n: 0 }, persist: true }),
      () => defineSlice('a', { schema, initial: { n: 0 }, persist: true, ttl_ms: 1_000 }),
      () => defineSlice('a', { schema, initial: { n: 0 }, persist: false }),
      () => defineSlice('a', { schema, initial: { n: 'zero' as unknown as number }, persist: true }),
      () => defineSlice('a', { schema, initial: { n: 0 }, persist: true, version: 2 }),
      () => defineSlice('a', { schema, initial: { n: 0 }, persist: true, version: 0 }),
    ];
    for (const define of bad) {
      let error: unknown;
      try {
        define();
      } catch (e) {
        error = e;
      }
      expect(isDianaError(error, 'E_STATE_CONFIG')).toBe(true);
    }
    expect(Object.isFrozen(defineSlice('ok', { schema, initial: { n: 0 }, persist: true }).initial)).toBe(true);
  });

  it('refuses a manager without the homes or bus its slices need', () => {
    const persistent = defineSlice('p', { schema: v.string(), initial: '', persist: true });
    const noisy = defineSlice('q', { schema: v.string(), initial: '', persist: false, ttl_ms: 1_000, notify: true });
    expect(() => createUserStateManager({}, { slices: [persistent] })).toThrow(/deps.db/);
    expect(() => createUserStateManager({}, { slices: [noisy] })).toThrow(/deps.bus/);
    expect(() => createUserStateManager({}, { slices: [counter, counter] })).toThrow(/twice/);
    expect(() => createUserStateManager({ max_attempts: 0 }, { slices: [counter] })).toThrow(/max_attempts/);
  });
});

describe('a write whose reply was lost', () => {
  // A store that performs the write, then fails as if the reply never came back.
  // `meanwhile`: another writer's work before the failure surfaces.
  const losingReplies = (
    inner: SliceStore,
    lose: { next: boolean; apply: boolean; meanwhile?: () => Promise<unknown> },
  ): SliceStore => ({
    ...inner,
    name: 'flaky',
    async write(user_id, slice, expected, value) {
      if (!lose.next) return inner.write(user_id, slice, expected, value);
      lose.next = false;
      if (lose.apply) await inner.write(user_id, slice, expected, value);
      await lose.meanwhile?.();
      throw new Error('connection reset before the reply');
    },
  });
  // another writer's compare-and-set of u1's counter on the record that stands
  const writeOver = (inner: SliceStore, n: number) => async () => {
    const current = await inner.read('u1', 'counter');
    const stored = await inner.write('u1', 'counter', current?.token, {
      data: { n },
      schema_version: 1,
      write_id: newId(),
    });
    expect(stored && !('conflict' in stored)).toBe(true);
  };

  it('is read back: landed → success, never applied twice', async () => {
    const lose = { next: true, apply: true };
    const state = createUserStateManager(
      {},
      { slices: [counter], stores: { ephemeral: losingReplies(createMemorySliceStore(), lose) } },
    );
    let calls = 0;
    const result = await state.update('u1', 'counter', (c) => {
      calls++;
      return { n: c.n + 1 };
    });
    expect(lose.next).toBe(false); // the fault happened
    expect(result).toEqual({ n: 1 });
    expect(calls).toBe(1);
    expect(await state.get('u1', 'counter')).toEqual({ n: 1 });
  });

  it('is read back: not landed → E_STATE_UNAVAILABLE, nothing written', async () => {
    const lose = { next: true, apply: false };
    const state = createUserStateManager(
      {},
      { slices: [counter], stores: { ephemeral: losingReplies(createMemorySliceStore(), lose) } },
    );
    const error = await state.update('u1', 'counter', (c) => ({ n: c.n + 1 })).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_STATE_UNAVAILABLE')).toBe(true);
    expect((error as { context: { outcome: string } }).context.outcome).toBe('not_written');
    expect(await state.get('u1', 'counter')).toEqual({ n: 0 });
  });

  it('is read back: landed and written over by another → outcome unknown, not not_written (a retry would apply it twice)', async () => {
    const inner = createMemorySliceStore();
    await inner.write('u1', 'counter', undefined, { data: { n: 10 }, schema_version: 1, write_id: newId() });
    const lose = { next: true, apply: true, meanwhile: writeOver(inner, 12) };
    const state = createUserStateManager({}, { slices: [counter], stores: { ephemeral: losingReplies(inner, lose) } });
    const error = await state.update('u1', 'counter', (c) => ({ n: c.n + 1 })).catch((e: unknown) => e);
    expect(lose.next).toBe(false); // the fault happened
    expect(isDianaError(error, 'E_STATE_UNAVAILABLE')).toBe(true);
    expect((error as { context: { outcome: string } }).context.outcome).toBe('unknown');
    expect((await inner.read('u1', 'counter'))?.version).toBe(3); // ours (11), then the other's (12)
  });

  it('is read back: another writer took its place → not_written', async () => {
    const inner = createMemorySliceStore();
    await inner.write('u1', 'counter', undefined, { data: { n: 10 }, schema_version: 1, write_id: newId() });
    const lose = { next: true, apply: false, meanwhile: writeOver(inner, 12) };
    const state = createUserStateManager({}, { slices: [counter], stores: { ephemeral: losingReplies(inner, lose) } });
    const error = await state.update('u1', 'counter', (c) => ({ n: c.n + 1 })).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_STATE_UNAVAILABLE')).toBe(true);
    expect((error as { context: { outcome: string } }).context.outcome).toBe('not_written');
    expect(await state.get('u1', 'counter')).toEqual({ n: 12 });
  });
});

describe('user.state_changed', () => {
  it('is published after each ephemeral write with slice and version, never the value', async () => {
    const bus = createEventBus({}, { transport: createMemoryTransport(), events: USER_STATE_EVENTS });
    const seen: EventEnvelope[] = [];
    bus.subscribe('listener', 'user.state_changed', async (event) => {
      seen.push(event);
    });
    const noisy = defineSlice('menu', {
      schema: v.string(),
      initial: 'home',
      persist: false,
      ttl_ms: 60_000,
      notify: true,
    });
    const state = createUserStateManager({}, { slices: [noisy], bus });
    await state.set('u7', 'menu', 'shop');
    await state.set('u7', 'menu', 'story');
    await state.update('u7', 'menu', (m) => m); // unchanged: no write, no event
    const deadline = Date.now() + 10_000;
    while (seen.length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen.map((e) => e.payload)).toEqual([
      { user_id: 'u7', slice: 'menu', version: 1 },
      { user_id: 'u7', slice: 'menu', version: 2 },
    ]);
    expect(seen[0]?.key).toBe('u7');
    await bus.close();
  });
});

describe('userStateMiddleware', () => {
  const update = (update_id: number, from: number): Update =>
    ({
      update_id,
      message: {
        message_id: update_id,
        date: 0,
        chat: { id: from, type: 'private', first_name: 'U' },
        from: { id: from, is_bot: false, first_name: 'U' },
        text: '/tap',
        entities: [{ type: 'bot_command', offset: 0, length: 4 }],
      },
    }) as Update;

  it('binds ctx.userState to the sender; concurrent updates of one user lose nothing', async () => {
    const state = createUserStateManager({ max_attempts: 1_000 }, { slices: [counter] });
    type Ctx = import('grammy').Context & UserStateFlavor<readonly [typeof counter]>;
    const bot = new Bot<Ctx>('0:fake', {
      botInfo: FAKE_BOT_INFO,
    });
    const calls: string[] = [];
    bot.api.config.use(async (_prev, method) => {
      calls.push(method);
      return { ok: true, result: true } as never;
    });
    bot.use(userStateMiddleware(state));
    bot.command('tap', async (ctx) => {
      await ctx.userState?.update('counter', async (c) => {
        await new Promise((resolve) => setTimeout(resolve, 1));
        return { n: c.n + 1 };
      });
    });
    await Promise.all(Array.from({ length: 30 }, (_, i) => bot.handleUpdate(update(i + 1, 42))));
    await bot.handleUpdate(update(100, 43));
    expect(await state.get('42', 'counter')).toEqual({ n: 30 });
    expect(await state.get('43', 'counter')).toEqual({ n: 1 });
    expect(state.stats().conflicts).toBe(0); // one manager: the 30 updates took turns
    expect(calls).toEqual([]); // the handler sent nothing
  });
});

// The compile-time side (slice names and value types) is test/types.test-d.ts.
describe('what the types refuse, at run time', () => {
  it('refuses an unknown slice, a value of the wrong shape and an fn returning one, writing nothing', async () => {
    const state = createUserStateManager({}, { slices: [counter] });
    await state.set('u', 'counter', { n: 4 });
    const unknown = await state.get('u', 'nope' as 'counter').catch((e: unknown) => e);
    expect(isDianaError(unknown, 'E_STATE_CONFIG')).toBe(true);
    const wrong = await state.set('u', 'counter', { n: 'one' } as never).catch((e: unknown) => e);
    expect(isDianaError(wrong, 'E_STATE_INVALID')).toBe(true);
    const returned = await state.update('u', 'counter', () => ({ m: 1 }) as never).catch((e: unknown) => e);
    expect(isDianaError(returned, 'E_STATE_INVALID')).toBe(true);
    expect(await state.get('u', 'counter')).toEqual({ n: 4 });
  });
});

describe('metrics', () => {
  const meter = useTestMeter();

  it('records updates by outcome on the OpenTelemetry meter', async () => {
    const metered = defineSlice('metered', { schema: v.number(), initial: 0, persist: false, ttl_ms: 60_000 });
    const state = createUserStateManager({}, { slices: [metered] });
    await state.set('m1', 'metered', 1);
    await state.set('m1', 'metered', 2);
    await state.update('m1', 'metered', (n) => n);
    await expect(state.set('m1', 'metered', 'bad' as never)).rejects.toThrow(/invalid value/);
    const collected = await meter.collect();
    expect(collected.sum('diana.user_state.updates', { slice: 'metered', outcome: 'written' })).toBe(2);
    expect(collected.sum('diana.user_state.updates', { slice: 'metered', outcome: 'unchanged' })).toBe(1);
    expect(collected.sum('diana.user_state.updates', { slice: 'metered', outcome: 'invalid' })).toBe(1);
    expect(collected.count('diana.user_state.update.duration', { slice: 'metered' })).toBe(4);
    expect(collected.descriptor('diana.user_state.update.duration')?.unit).toBe('s');
    // four in-memory updates take far less than a second each: recorded in seconds, not ms
    expect(collected.total('diana.user_state.update.duration', { slice: 'metered' })).toBeLessThan(1);
  });
});
