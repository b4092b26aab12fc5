// @diana/user-state/grammy: handlers get `ctx.userState` bound to the current user.
import type { Context, MiddlewareFn } from 'grammy';
import type { SliceName, UserStateManager, ValueOf } from './manager.js';
import type { SliceDefinition } from './slice.js';

/** `ctx.userState`: the manager's methods for the user of this update. */
export interface BoundUserState<S extends readonly SliceDefinition[]> {
  readonly user_id: string;
  get<N extends SliceName<S>>(slice: N): Promise<ValueOf<S, N>>;
  update<N extends SliceName<S>>(
    slice: N,
    fn: (current: ValueOf<S, N>) => ValueOf<S, N> | Promise<ValueOf<S, N>>,
  ): Promise<ValueOf<S, N>>;
  set<N extends SliceName<S>>(slice: N, value: ValueOf<S, N>): Promise<ValueOf<S, N>>;
  reset<N extends SliceName<S>>(slice: N): Promise<ValueOf<S, N>>;
}

/** The context flavor adding `ctx.userState` (absent on updates without a user). */
export interface UserStateFlavor<S extends readonly SliceDefinition[] = readonly SliceDefinition[]> {
  userState?: BoundUserState<S>;
}

/** Options of `userStateMiddleware`. */
export interface UserStateMiddlewareOptions<C extends Context> {
  /** The user id state is kept under; default the sender's Telegram id as a string. */
  readonly getUserId?: (ctx: C) => string | undefined;
}

/**
 * Sets `ctx.userState` for the update's user. It is a thin binding: every call goes to the
 * manager (compare-and-set in the slice's home), so concurrent updates of one user — in this
 * process or another — never lose a write. grammY's session storage is not used: its
 * read/write interface has no compare-and-set.
 */
export function userStateMiddleware<S extends readonly SliceDefinition[], C extends Context & UserStateFlavor<S>>(
  manager: UserStateManager<S>,
  options: UserStateMiddlewareOptions<C> = {},
): MiddlewareFn<C> {
  const getUserId = options.getUserId ?? ((ctx: C) => (ctx.from ? String(ctx.from.id) : undefined));
  return async (ctx, next) => {
    const user_id = getUserId(ctx);
    if (user_id !== undefined) {
      ctx.userState = {
        user_id,
        get: (slice) => manager.get(user_id, slice),
        update: (slice, fn) => manager.update(user_id, slice, fn),
        set: (slice, value) => manager.set(user_id, slice, value),
        reset: (slice) => manager.reset(user_id, slice),
      };
    }
    await next();
  };
}
