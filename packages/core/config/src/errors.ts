/** Codes of the errors this package raises. */
export const CONFIG_ERROR_CODES = Object.freeze({
  /** One or more settings are missing, malformed or unknown; `issues` names each variable. */
  SETTINGS_INVALID: 'E_SETTINGS_INVALID',
} as const);

/** A code of `CONFIG_ERROR_CODES`. */
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[keyof typeof CONFIG_ERROR_CODES];
