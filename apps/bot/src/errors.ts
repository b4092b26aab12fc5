/** Codes of the errors the bot and its operator CLI raise (other packages' codes come from their maps). */
export const BOT_ERROR_CODES = Object.freeze({
  /** A backend did not answer within the start deadline (`DIANA_BOT_START_TIMEOUT_MS`). */
  START_TIMEOUT: 'E_BOT_START_TIMEOUT',
  /** A component failed to start; the message names it. */
  START_FAILED: 'E_BOT_START_FAILED',
  /**
   * Long polling stopped for good: Telegram refused the token (401) or another process polls with
   * it (409), or getUpdates failed for longer than the runner retries. The bot shuts down, exit 1.
   */
  POLLING_STOPPED: 'E_BOT_POLLING_STOPPED',
  /** Another process is handling this update right now: the webhook call fails, Telegram retries. */
  UPDATE_IN_PROGRESS: 'E_BOT_UPDATE_IN_PROGRESS',
  /** CLI: Redis did not answer. */
  REDIS_UNAVAILABLE: 'E_BOT_REDIS_UNAVAILABLE',
  /** CLI: a command that needs Redis, with no Redis configured. */
  CLI_NO_REDIS: 'E_BOT_CLI_NO_REDIS',
  /** CLI: a destructive command without `--yes`. */
  CLI_NOT_CONFIRMED: 'E_BOT_CLI_NOT_CONFIRMED',
  /** CLI: the named dead letter does not exist. */
  CLI_NOT_FOUND: 'E_BOT_CLI_NOT_FOUND',
  /** CLI `health`: a backend is not healthy. */
  CLI_UNHEALTHY: 'E_BOT_CLI_UNHEALTHY',
} as const);
