// @diana/utils: the lowest layer — errors, validation, logging and secrets, time, ids, lifecycle.

// Errors
export type { DianaErrorOptions, Issue } from './errors.js';
export { DianaError, isDianaError, isUnavailable, toError, ValidationError } from './errors.js';

// Validation and config-schema helpers
export type { UtilsErrorCode } from './validation.js';
export type { NumberBounds, SecretOptions, UrlOptions } from './schema.js';
export { ERROR_CODES, fromValibotIssues, parseOrThrow } from './validation.js';
export { isUnstorableText, unstorablePaths } from './jsonb.js';
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
  timeZone,
  urlString,
} from './schema.js';

// Logging and secrets
export type { Logger, LoggerConfig } from './logger.js';
export type { Secret } from './secret.js';
export {
  createLogger,
  createScrubbingStream,
  DEFAULT_REDACT_PATHS,
  getPackageLogger,
  SILENT_LOGGER,
} from './logger.js';
export { REDACTED, scrubDeep, scrubString } from './scrub.js';
export { createSecret, isSecret, maskUrl, revealSecret } from './secret.js';
export { libpqSocketUrl } from './url.js';

// Besitos amounts
export type { BesitosRefusal } from './besitos.js';
export { BESITOS_ERROR_CODES, BESITOS_MAX, besitosAdjustment, besitosAmount, parseBesitos } from './besitos.js';

// Formatting
export { DEFAULT_LOCALE, formatBesitos, formatDuration } from './format.js';

// Time and ids
export type { Clock, ManualClock } from './clock.js';
export { createManualClock, SYSTEM_CLOCK, sleep } from './clock.js';
export { getIdTime, isId, newId } from './ids.js';

// Retry
export type { BackoffOptions, Jitter, RetryOptions } from './retry.js';
export { backoffDelay, createBackoff, DEFAULT_BACKOFF, retry } from './retry.js';

// A retrying loop's failures in a row, logged once per outage
export type { FailureStreak, FailureStreakOptions } from './failure-streak.js';
export { createFailureStreak } from './failure-streak.js';
export type { PeriodicOptions } from './periodic.js';
export { runPeriodically } from './periodic.js';

// Batching within one event-loop turn
export { createTurnBatcher } from './turn-batch.js';

// Lifecycle
export type { Closeable, CloseOptions, Closer } from './lifecycle.js';
export { createCloser, waitWithin } from './lifecycle.js';

// Events
export type { OnceEmitter } from './events.js';
export { createEventWaiter } from './events.js';

// Immutability
export type { DeepReadonly } from './deep-freeze.js';
export { deepFreeze } from './deep-freeze.js';

// Metrics
export { DURATION_BUCKETS_SECONDS } from './metrics.js';

// Files shipped beside the code
export type { PackageFiles } from './package-files.js';
export { packageFiles } from './package-files.js';
