// Rate limiting: the memory store (also ./adapters/memory); the Redis store is ./adapters/redis
export { createMemoryRateLimitStore } from './adapters/memory.js';
export type { CallbackSigner, VerifiedCallback } from './callback.js';
// Signed callback data
export { createCallbackSigner, MIN_MAC_CHARS, safeEqual } from './callback.js';
export type { SecurityConfigInput } from './config.js';
// Config
export { SecurityConfig } from './config.js';
export type { SecurityErrorCode } from './errors.js';
// Errors
export { SECURITY_ERROR_CODES } from './errors.js';
export { SECURITY_MIGRATIONS } from './migrations.js';
// Output guard
export { assertOutgoing, checkHtml, checkOutgoing, TELEGRAM_LIMITS } from './output.js';
export type { RateLimiter, RateLimiterDeps, RateLimitResult } from './rate-limit.js';
export { createRateLimiter } from './rate-limit.js';
export type { RateDecision, RateLimitStore, RatePolicy } from './rate-types.js';
export type { Permission } from './roles.js';
// Roles
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
export type { RawHtml } from './text.js';
// Text safety
export { escapeHtml, html, normalizeText, rawHtml } from './text.js';
export type { TokenRecord, TokenService } from './tokens.js';
// Tokens
export { createTokenService } from './tokens.js';
// Validation
export { TelegramInput, validateInput, validateOutput } from './validation.js';
// Webhook
export { checkWebhookSecret, guardWebhook, WEBHOOK_SECRET_HEADER } from './webhook.js';
