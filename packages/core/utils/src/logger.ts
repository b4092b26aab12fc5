import { type DestinationStream, type LoggerOptions, pino } from 'pino';
import { scrubString } from './scrub.js';

type LogFn = {
  (obj: object, msg?: string, ...args: unknown[]): void;
  (msg: string, ...args: unknown[]): void;
};

/** The pino-shaped logger every Diana factory accepts (`deps.logger`). */
export interface Logger {
  level: string;
  fatal: LogFn;
  error: LogFn;
  warn: LogFn;
  info: LogFn;
  debug: LogFn;
  trace: LogFn;
  child(bindings: Record<string, unknown>): Logger;
}

/** Options of `createLogger`. */
export interface LoggerConfig {
  /** @default 'info' */
  readonly level?: string;
  /** Bound to every line as `name`. */
  readonly name?: string;
  /** Extra object paths to censor, in pino's redact syntax. */
  readonly redact?: readonly string[];
  /** Where lines go; every line is scrubbed before it is written. @default stdout */
  readonly destination?: DestinationStream;
}

/** Object paths whose values never reach a log line, whatever they hold. */
export const DEFAULT_REDACT_PATHS: readonly string[] = [
  'password',
  '*.password',
  'token',
  '*.token',
  'secret',
  '*.secret',
  'authorization',
  '*.authorization',
  'headers.authorization',
  '*.headers.authorization',
  'headers["x-telegram-bot-api-secret-token"]',
  '*.headers["x-telegram-bot-api-secret-token"]',
  'telegram_bot_token',
  '*.telegram_bot_token',
  'webhook_secret',
  '*.webhook_secret',
  'callback_secret',
  '*.callback_secret',
  'token_pepper',
  '*.token_pepper',
];

/**
 * A pino logger that censors known secret paths and, as a last line of defence, scrubs
 * secrets inside any string of the serialized line (messages, error stacks, causes).
 */
export function createLogger(config: LoggerConfig = {}): Logger {
  const options: LoggerOptions = {
    level: config.level ?? 'info',
    redact: { paths: [...DEFAULT_REDACT_PATHS, ...(config.redact ?? [])], censor: '[REDACTED]' },
    serializers: { err: pino.stdSerializers.errWithCause, error: pino.stdSerializers.errWithCause },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (config.name !== undefined) options.name = config.name;
  const destination = config.destination ?? pino.destination({ dest: 1, sync: false });
  return pino(options, createScrubbingStream(destination)) as unknown as Logger;
}

/** A logger that writes nothing: the default of every factory's `deps.logger`. */
export const SILENT_LOGGER: Logger = Object.freeze({
  level: 'silent',
  fatal: noop,
  error: noop,
  warn: noop,
  info: noop,
  debug: noop,
  trace: noop,
  child: () => SILENT_LOGGER,
});

/** The logger a package should use: `deps.logger` (or the silent one) bound to `{ pkg }`. */
export function getPackageLogger(logger: Logger | undefined, pkg: string): Logger {
  return (logger ?? SILENT_LOGGER).child({ pkg });
}

/** Wraps a destination so that every serialized line is scrubbed before it is written. */
export function createScrubbingStream(destination: DestinationStream): DestinationStream {
  const target = destination as DestinationStream & {
    flush?: (cb?: (err?: Error) => void) => void;
    flushSync?: () => void;
  };
  const stream: DestinationStream & Record<string, unknown> = {
    write: (line: string) => target.write(scrubString(line)),
  };
  if (typeof target.flush === 'function') stream.flush = target.flush.bind(target);
  if (typeof target.flushSync === 'function') stream.flushSync = target.flushSync.bind(target);
  return stream;
}

function noop(): void {}
