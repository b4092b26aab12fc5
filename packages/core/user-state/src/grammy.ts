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
  return (ctx, next) => {
    const user_id = getUserId(ctx);
    if (user_id !== undefined) ctx.userState = new Bound(manager, user_id);
    return next();
  };
}

// One object per update and no closures: the methods live on the prototype.
class Bound<S extends readonly SliceDefinition[]> implements BoundUserState<S> {
  readonly #manager: UserStateManager<S>;
  readonly user_id: string;
  constructor(manager: UserStateManager<S>, user_id: string) {
    this.#manager = manager;
    this.user_id = user_id;
  }
  get<N extends SliceName<S>>(slice: N): Promise<ValueOf<S, N>> {
    return this.#manager.get(this.user_id, slice);
  }
  update<N extends SliceName<S>>(
    slice: N,
    fn: (current: ValueOf<S, N>) => ValueOf<S, N> | Promise<ValueOf<S, N>>,
  ): Promise<ValueOf<S, N>> {
    return this.#manager.update(this.user_id, slice, fn);
  }
  set<N extends SliceName<S>>(slice: N, value: ValueOf<S, N>): Promise<ValueOf<S, N>> {
    return this.#manager.set(this.user_id, slice, value);
  }
  reset<N extends SliceName<S>>(slice: N): Promise<ValueOf<S, N>> {
    return this.#manager.reset(this.user_id, slice);
  }
}
