// `isSignedAction` narrows: in a filter's handler the verified press is there, no `?.` needed.
import { Composer, type Context } from 'grammy';
import { describe, expectTypeOf, it } from 'vitest';
import type { VerifiedCallback } from '../src/callback.js';
import { isSignedAction, type SecurityFlavor } from '../src/grammy.js';

describe('isSignedAction', () => {
  it("sets ctx.signedCallback's type in the filter's handlers", () => {
    const composer = new Composer<Context & SecurityFlavor>();
    composer.filter(isSignedAction('answer'), (ctx) => {
      expectTypeOf(ctx.signedCallback).toEqualTypeOf<VerifiedCallback>();
    });
    // outside a filter it stays optional
    composer.use((ctx) => {
      expectTypeOf(ctx.signedCallback).toEqualTypeOf<VerifiedCallback | undefined>();
    });
  });
});
