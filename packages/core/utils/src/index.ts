// Besitos amounts
export type { BesitosRefusal } from './besitos.js';
export { BESITOS_ERROR_CODES, BESITOS_MAX, besitosAdjustment, besitosAmount, parseBesitos } from './besitos.js';
// Errors

export type { Clock, ManualClock } from './clock.js';
export { createManualClock, SYSTEM_CLOCK, sleep } from './clock.js';
export type { DeepReadonly } from './deep-freeze.js';
// Immutability
export { deepFreeze } from './deep-freeze.js';
export type { DianaErrorOptions, Issue } from './errors.js';
export { DianaError, isDianaError, toError, ValidationError } from './errors.js';
export type { OnceEmitter } from './events.js';
// Events
export { createEventWaiter } from './events.js';
// Formatting
export { DEFAULT_LOCALE, formatBesitos, formatDuration } from './format.js';
// Ids and time
export { getIdTime, isId, newId } from './ids.js';
export type { Closeable, Closer } from './lifecycle.js';

// Lifecycle
export { createCloser } from './lifecycle.js';
export type { Logger, LoggerConfig } from './logger.js';
// Logging and secrets
export {
  createLogger,
  createScrubbingStream,
  DEFAULT_REDACT_PATHS,
  getPackageLogger,
  SILENT_LOGGER,
} from './logger.js';
// Metrics
export { DURATION_BUCKETS_SECONDS } from './metrics.js';
// Files shipped beside the code
export type { PackageFiles } from './package-files.js';
export { packageFiles } from './package-files.js';
export type { BackoffOptions, Jitter, RetryOptions } from './retry.js';
// Retry
export { backoffDelay, createBackoff, DEFAULT_BACKOFF, retry } from './retry.js';
export type { NumberBounds, UrlOptions } from './schema.js';
// Config-schema helpers
export {
  coerceBoolean,
  coerceDuration,
  coerceInt,
  coerceList,
  coerceNumber,
  isSecretSchema,
  isUrlSchema,
  secret,
  secretUrl,
  urlString,
} from './schema.js';
export { REDACTED, scrubDeep, scrubString } from './scrub.js';
export type { Secret } from './secret.js';
export { createSecret, isSecret, maskUrl, revealSecret } from './secret.js';
export type { UtilsErrorCode } from './validation.js';
export { ERROR_CODES, fromValibotIssues, parseOrThrow } from './validation.js';
