// Type tests, checked by `vitest --typecheck` (see vitest.config.ts): slice names and value
// types flow from the definitions into every manager call and the grammY binding.
import type { Context } from 'grammy';
import * as v from 'valibot';
import { describe, expectTypeOf, it } from 'vitest';
import type { BoundUserState, UserStateFlavor } from '../src/grammy.js';
import { createUserStateManager, defineSlice, type SliceName, type ValueOf } from '../src/index.js';

const counter = defineSlice('counter', {
  schema: v.object({ n: v.number() }),
  initial: { n: 0 },
  persist: false,
  ttl_ms: 60_000,
});
const menu = defineSlice('menu', {
  schema: v.picklist(['home', 'shop']),
  initial: 'home',
  persist: false,
  ttl_ms: 1_000,
});
const slices = [counter, menu] as const;
const state = createUserStateManager({}, { slices });

describe('slice types', () => {
  it('names the slices and their values from the definitions', () => {
    expectTypeOf<SliceName<typeof slices>>().toEqualTypeOf<'counter' | 'menu'>();
    expectTypeOf<ValueOf<typeof slices, 'counter'>>().toEqualTypeOf<{ n: number }>();
    expectTypeOf<ValueOf<typeof slices, 'menu'>>().toEqualTypeOf<'home' | 'shop'>();
  });

  it('types get, set, update, reset and snapshot by slice', () => {
    expectTypeOf(state.get('u', 'counter')).resolves.toEqualTypeOf<{ n: number }>();
    expectTypeOf(state.get('u', 'menu')).resolves.toEqualTypeOf<'home' | 'shop'>();
    expectTypeOf(state.set('u', 'menu', 'shop')).resolves.toEqualTypeOf<'home' | 'shop'>();
    expectTypeOf(state.reset('u', 'counter')).resolves.toEqualTypeOf<{ n: number }>();
    expectTypeOf(state.update('u', 'counter', (c) => ({ n: c.n + 1 }))).resolves.toEqualTypeOf<{ n: number }>();
    expectTypeOf(state.snapshot('u')).resolves.toEqualTypeOf<{ counter: { n: number }; menu: 'home' | 'shop' }>();
  });

  it('refuses unknown slices and values of the wrong shape', () => {
    // nothing here runs: the file is only type-checked
    // @ts-expect-error: no such slice
    void state.get('u', 'nope');
    // @ts-expect-error: wrong value shape
    void state.set('u', 'counter', { n: 'one' });
    // @ts-expect-error: not one of the picklist's values
    void state.set('u', 'menu', 'away');
    // @ts-expect-error: fn must return the slice's type
    void state.update('u', 'counter', () => ({ m: 1 }));
  });

  it('binds the same types on ctx.userState', () => {
    type Bound = NonNullable<(Context & UserStateFlavor<typeof slices>)['userState']>;
    expectTypeOf<Bound>().toEqualTypeOf<BoundUserState<typeof slices>>();
    const bound = {} as Bound;
    expectTypeOf(bound.get('menu')).resolves.toEqualTypeOf<'home' | 'shop'>();
    expectTypeOf(bound.update('counter', (c) => ({ n: c.n + 1 }))).resolves.toEqualTypeOf<{ n: number }>();
    // @ts-expect-error: no such slice
    void bound.reset('nope');
  });
});
