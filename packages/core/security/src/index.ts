// @diana/security: roles, signed callbacks, one-time tokens, rate limits, input and output safety.

// Config
export type { SecurityConfigInput } from './config.js';
export { SecurityConfig, webhookSecret } from './config.js';

// Roles
export type { Permission } from './roles.js';
export {
  assertCan,
  atLeast,
  can,
  canAssignRole,
  getRoleLevel,
  PERMISSIONS,
  ROLE_LABELS,
  ROLE_LEVELS,
} from './roles.js';

// Signed callback data
export type { CallbackSigner, VerifiedCallback } from './callback.js';
export { createCallbackSigner, MIN_MAC_CHARS, safeEqual } from './callback.js';

// Tokens
export type { TokenRecord, TokenService, TokenServiceDeps } from './tokens.js';
export { createTokenService } from './tokens.js';
export { SECURITY_MIGRATIONS } from './migrations.js';

// Rate limiting: the memory store (also ./adapters/memory); the Redis store is ./adapters/redis
export type { RateLimiter, RateLimiterDeps, RateLimitResult } from './rate-limit.js';
export type { RateDecision, RateLimitStore, RatePolicy } from './rate-types.js';
export { createRateLimiter } from './rate-limit.js';
export { createMemoryRateLimitStore } from './adapters/memory.js';

// Validation
export { TelegramInput, validateInput, validateOutput } from './validation.js';

// Text safety
export type { RawHtml } from './text.js';
export { cutText, escapeHtml, html, normalizeText, oneLine, rawHtml } from './text.js';

// Output guard
export { assertOutgoing, checkHtml, checkOutgoing, TELEGRAM_LIMITS } from './output.js';

// Webhook
export { checkWebhookSecret, guardWebhook, WEBHOOK_SECRET_HEADER } from './webhook.js';

// Errors
export type { SecurityErrorCode } from './errors.js';
export { SECURITY_ERROR_CODES } from './errors.js';
