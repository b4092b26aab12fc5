import { coerceDuration, coerceInt, coerceNumber, secret } from '@diana/utils';
import * as v from 'valibot';

/**
 * Telegram's `secret_token` (setWebhook): up to 256 characters of A-Z a-z 0-9 _ -, which Telegram
 * sends back in each webhook request's header. An app may ask for more than one character (the
 * bot asks for 32: a short one can be guessed).
 */
export const webhookSecret = (minLength = 1) => secret({ minLength, maxLength: 256, characters: 'A-Za-z0-9_-' });

/** Security settings (`DIANA_SECURITY_*`). Each service checks that the keys it needs are set. */
export const SecurityConfig = v.object({
  /** HMAC key of signed callback data (at least 32 characters). */
  callback_secret: v.optional(secret({ minLength: 32 })),
  /**
   * The callback key before a rotation (at least 32 characters): buttons it signed still verify;
   * new ones are signed with `callback_secret`. Unset once those buttons no longer matter (at once
   * when the old key leaked).
   */
  callback_secret_previous: v.optional(secret({ minLength: 32 })),
  /** Key of the keyed hash tokens are stored under (at least 32 characters). */
  token_pepper: v.optional(secret({ minLength: 32 })),
  /**
   * The token pepper before a rotation (at least 32 characters): tokens issued under it can still
   * be redeemed and revoked; new ones are stored under `token_pepper`.
   */
  token_pepper_previous: v.optional(secret({ minLength: 32 })),
  /** Telegram's `secret_token` of the webhook: 1–256 characters of A-Z a-z 0-9 _ -. */
  webhook_secret: v.optional(webhookSecret()),
  /** Prefix of the rate limiter's Redis keys. */
  rate_limit_prefix: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9:_-]{1,64}$/)), 'diana:rl:'),
  /** Time limit of one rate-limit command; past it (or with Redis down) the insurance limiter answers. */
  rate_limit_timeout_ms: v.optional(coerceDuration({ min: 10 }), 250),
  /**
   * Most rate-limit decisions sent to Redis in one script call: the decisions asked in one
   * event-loop turn are coalesced (never delayed by a timer); 1 sends each on its own.
   */
  rate_limit_batch_max: v.optional(coerceInt({ min: 1, max: 1_000 }), 64),
  /**
   * Share of each policy's limit the in-memory insurance limiter grants per process while
   * Redis is unreachable (0.5 with two processes keeps the total at the limit).
   */
  insurance_share: v.optional(coerceNumber({ min: 0.01, max: 1 }), 1),
});
/** Parsed `SecurityConfig`. */
export type SecurityConfig = v.InferOutput<typeof SecurityConfig>;
/** What callers may pass (defaults filled in). */
export type SecurityConfigInput = v.InferInput<typeof SecurityConfig>;
