/** Codes of the errors this package raises. */
export const CONFIG_ERROR_CODES = Object.freeze({
  /** One or more settings are missing, malformed or unknown; `issues` names each variable. */
  SETTINGS_INVALID: 'E_CONFIG_SETTINGS_INVALID',
  /** Values that do not match their template (written, stored or rolled back to); nothing written. */
  CONFIG_INVALID: 'E_CONFIG_INVALID',
  /** Another change got there first (the instance is no longer a draft, or its version moved). */
  CONFIG_CONFLICT: 'E_CONFIG_CONFLICT',
  /** The operation does not apply to the instance in its status (e.g. editing an active one). */
  CONFIG_STATE: 'E_CONFIG_STATE',
  /** No such template, instance or revision. */
  CONFIG_NOT_FOUND: 'E_CONFIG_NOT_FOUND',
  /** Bad template definition, key, scope or manager config; or `get` before `start()`. */
  CONFIG_USAGE: 'E_CONFIG_USAGE',
} as const);

/** A code of `CONFIG_ERROR_CODES`. */
export type ConfigErrorCode = (typeof CONFIG_ERROR_CODES)[keyof typeof CONFIG_ERROR_CODES];
