// The public API of @diana/security, pinned: a value export added, renamed or removed fails this type
// test until the list changes with it (the README's API section follows it: pnpm lint checks).
import { describe, expectTypeOf, it } from 'vitest';
import type * as api from '../src/index.js';

describe('@diana/security public API', () => {
  it('exports exactly these values', () => {
    expectTypeOf<keyof typeof api>().toEqualTypeOf<
      | 'MIN_MAC_CHARS'
      | 'PERMISSIONS'
      | 'ROLE_LABELS'
      | 'ROLE_LEVELS'
      | 'SECURITY_ERROR_CODES'
      | 'SECURITY_MIGRATIONS'
      | 'SecurityConfig'
      | 'TELEGRAM_LIMITS'
      | 'TelegramInput'
      | 'WEBHOOK_SECRET_HEADER'
      | 'assertCan'
      | 'assertOutgoing'
      | 'atLeast'
      | 'can'
      | 'canAssignRole'
      | 'checkHtml'
      | 'checkOutgoing'
      | 'checkWebhookSecret'
      | 'createCallbackSigner'
      | 'createMemoryRateLimitStore'
      | 'createRateLimiter'
      | 'createTokenService'
      | 'cutText'
      | 'escapeHtml'
      | 'getRoleLevel'
      | 'guardWebhook'
      | 'html'
      | 'normalizeText'
      | 'oneLine'
      | 'rawHtml'
      | 'safeEqual'
      | 'validateInput'
      | 'validateOutput'
      | 'webhookSecret'
    >();
  });
});
