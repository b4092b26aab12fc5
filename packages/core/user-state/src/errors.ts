/** Codes of the errors this package raises. */
export const USER_STATE_ERROR_CODES = Object.freeze({
  /** A value (written, or read from storage) does not match the slice's schema; nothing was written. */
  STATE_INVALID: 'E_STATE_INVALID',
  /** `update` lost the compare-and-set `max_attempts` times in a row; nothing was written. */
  STATE_CONFLICT: 'E_STATE_CONFLICT',
  /** The slice's home (Redis for ephemeral slices, PostgreSQL for persistent ones) did not answer. */
  STATE_UNAVAILABLE: 'E_STATE_UNAVAILABLE',
  /** Unknown slice, bad user id, invalid slice definition or configuration. */
  STATE_CONFIG: 'E_STATE_CONFIG',
  /** The manager is closed. */
  STATE_CLOSED: 'E_STATE_CLOSED',
} as const);

/** A code of `USER_STATE_ERROR_CODES`. */
export type UserStateErrorCode = (typeof USER_STATE_ERROR_CODES)[keyof typeof USER_STATE_ERROR_CODES];
