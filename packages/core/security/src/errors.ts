/** Codes of the errors this package raises. */
export const SECURITY_ERROR_CODES = Object.freeze({
  /** An input (from Telegram or a user) does not match its schema. */
  INPUT_INVALID: 'E_SECURITY_INPUT_INVALID',
  /** Something the bot was about to send would break a Telegram limit or rule; nothing was sent. */
  OUTPUT_INVALID: 'E_SECURITY_OUTPUT_INVALID',
  /** Callback data whose signature does not match (forged or altered). */
  CALLBACK_TAMPERED: 'E_SECURITY_CALLBACK_TAMPERED',
  /** Callback data signed for another user. */
  CALLBACK_WRONG_USER: 'E_SECURITY_CALLBACK_WRONG_USER',
  /** Callback data that does not fit Telegram's 64 bytes with its signature. */
  CALLBACK_OVERSIZE: 'E_SECURITY_CALLBACK_OVERSIZE',
  /** Callback data that is not in the signed format, or arguments that cannot be signed. */
  CALLBACK_MALFORMED: 'E_SECURITY_CALLBACK_MALFORMED',
  /** A rate limit refused the call (`context.retry_after_ms`). */
  RATE_LIMITED: 'E_SECURITY_RATE_LIMITED',
  /** No such token (or issued for another purpose). */
  TOKEN_UNKNOWN: 'E_SECURITY_TOKEN_UNKNOWN',
  /** The token's time is over. */
  TOKEN_EXPIRED: 'E_SECURITY_TOKEN_EXPIRED',
  /** The token was already redeemed. */
  TOKEN_USED: 'E_SECURITY_TOKEN_USED',
  /** The token was revoked before anyone redeemed it. */
  TOKEN_REVOKED: 'E_SECURITY_TOKEN_REVOKED',
  /** Not a token at all (wrong length or characters); nothing was looked up. */
  TOKEN_MALFORMED: 'E_SECURITY_TOKEN_MALFORMED',
  /** The role lacks the permission. */
  FORBIDDEN: 'E_SECURITY_FORBIDDEN',
  /** Invalid configuration or policy. */
  SECURITY_CONFIG: 'E_SECURITY_CONFIG',
} as const);

/** A code of `SECURITY_ERROR_CODES`. */
export type SecurityErrorCode = (typeof SECURITY_ERROR_CODES)[keyof typeof SECURITY_ERROR_CODES];
