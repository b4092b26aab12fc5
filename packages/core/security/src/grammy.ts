// @diana/security/grammy: the package's guards as grammY middleware and an API transformer.
import type { UserRole } from '@diana/db';
import { formatDuration } from '@diana/utils';
import type { Context, MiddlewareFn, Transformer } from 'grammy';
import { LRUCache } from 'lru-cache';
import type { CallbackSigner, VerifiedCallback } from './callback.js';
import { assertOutgoing } from './output.js';
import type { RateLimiter } from './rate-limit.js';
import { atLeast, can, type Permission } from './roles.js';

/** Adds `ctx.signedCallback`: the verified action and args of a pressed signed button. */
export interface SecurityFlavor {
  signedCallback?: VerifiedCallback;
}

/**
 * What every module's handlers may read on the context, set by the app before any module runs:
 * the sender's `users` row (its id, role and Telegram id) and the verified signed button. A
 * module's context is `Context & ModuleFlavor` (and its own flavor): the app's context carries
 * more, so every module's composer goes into the app's bot as it is.
 */
export interface ModuleFlavor extends SecurityFlavor {
  user?: { readonly id: string; readonly role: string; readonly telegram_id: number };
  /** True on the update that created the sender's `users` row: nothing of theirs is stored yet. */
  firstContact?: boolean;
}

/** The context a module's composer is typed with. */
export type ModuleContext = Context & ModuleFlavor;

/** How the guards learn the role of the update's user (the app reads `users.role`, cached). */
export type GetRole<C extends Context> = (ctx: C) => string | undefined | Promise<string | undefined>;

const reply = async (ctx: Context, text: string) => {
  if (ctx.callbackQuery) await ctx.answerCallbackQuery({ text });
  else if (ctx.chat) await ctx.reply(text);
};

/**
 * Stops every update of a BANNED user before anything else runs (install it first). A
 * pressed button is answered silently, so the client stops spinning; nothing else is said.
 */
export function blockBanned<C extends Context>(getRole: GetRole<C>): MiddlewareFn<C> {
  return async (ctx, next) => {
    if ((await getRole(ctx)) === 'BANNED') {
      if (ctx.callbackQuery) await ctx.answerCallbackQuery();
      return;
    }
    await next();
  };
}

/** Lets the update through only for `minimum` or a higher role; others are told politely. */
export function requireRole<C extends Context>(
  minimum: UserRole,
  getRole: GetRole<C>,
  message = 'No tienes permiso para hacer esto.',
): MiddlewareFn<C> {
  return async (ctx, next) => {
    if (atLeast((await getRole(ctx)) ?? 'BANNED', minimum)) await next();
    else await reply(ctx, message);
  };
}

/** Lets the update through only for roles holding `permission`. */
export function requirePermission<C extends Context>(
  permission: Permission,
  getRole: GetRole<C>,
  message = 'No tienes permiso para hacer esto.',
): MiddlewareFn<C> {
  return async (ctx, next) => {
    if (can((await getRole(ctx)) ?? 'BANNED', permission)) await next();
    else await reply(ctx, message);
  };
}

/**
 * Verifies every pressed button's data (signed with `signer`, bound to the presser when it
 * was signed with a user id) and sets `ctx.signedCallback`. A forged, altered or someone
 * else's button is answered and stops here: no handler ever sees it. Data not in the signed
 * layout is refused too, unless `allowUnsigned(data)` says otherwise (buttons of plugins).
 */
export function verifyCallbacks<C extends Context & SecurityFlavor>(
  signer: CallbackSigner,
  options: { allowUnsigned?: (data: string) => boolean; message?: string } = {},
): MiddlewareFn<C> {
  const message = options.message ?? 'Este botón ya no es válido.';
  return async (ctx, next) => {
    const data = ctx.callbackQuery?.data;
    if (data === undefined) return next();
    if (!signer.isSigned(data) && options.allowUnsigned?.(data)) return next();
    try {
      ctx.signedCallback = signer.verify(data, { userId: ctx.from?.id });
    } catch {
      await ctx.answerCallbackQuery({ text: message });
      return;
    }
    await next();
  };
}

/**
 * A filter for `composer.filter(...)`: a verified press of `action`. A type guard: in the
 * filter's handlers `ctx.signedCallback` is set.
 */
export function isSignedAction(action: string) {
  return <C extends Context & SecurityFlavor>(ctx: C): ctx is C & { signedCallback: VerifiedCallback } =>
    ctx.signedCallback?.action === action;
}

/**
 * Limits `action` per user: over the limit the user is told how long to wait (in a callback
 * answer for a button, in a message otherwise) and the update stops here.
 */
export function rateLimit<C extends Context>(
  limiter: RateLimiter,
  action: string,
  options: {
    key?: (ctx: C) => string | number | undefined;
    message?: (retry_after_ms: number) => string;
    /** Updates that skip the limit (e.g. staff). */
    exempt?: (ctx: C) => boolean | Promise<boolean>;
  } = {},
): MiddlewareFn<C> {
  const keyOf = options.key ?? ((ctx: C) => ctx.from?.id);
  const message =
    options.message ??
    ((ms: number) => `Vas demasiado rápido. Inténtalo de nuevo en ${formatDuration(Math.ceil(ms / 1_000) * 1_000)}.`);
  // one notice per refusal window: a burst of forty messages gets one answer, not forty (per process)
  const noticed = new LRUCache<string | number, number>({ max: 10_000 });
  return async (ctx, next) => {
    const key = keyOf(ctx);
    if (key === undefined || (options.exempt && (await options.exempt(ctx)))) return next();
    const result = await limiter.consume(key, action);
    if (result.allowed) return next();
    const now = Date.now();
    if ((noticed.get(key) ?? 0) > now) {
      if (ctx.callbackQuery) await ctx.answerCallbackQuery(); // the button stops spinning, nothing said
      return;
    }
    noticed.set(key, now + result.retry_after_ms);
    await reply(ctx, message(result.retry_after_ms));
  };
}

/**
 * An API transformer that checks every request against Telegram's limits before it leaves
 * (`E_SECURITY_OUTPUT_INVALID`; nothing is sent). Install it last — grammY runs the last installed
 * transformer first — so no other transformer (retries, throttling) sees a refused request:
 * `bot.api.config.use(autoRetry(), outputGuard())`.
 */
export function outputGuard(): Transformer {
  return (prev, method, payload, signal) => {
    assertOutgoing(method, payload as Record<string, unknown> | undefined);
    return prev(method, payload, signal);
  };
}
