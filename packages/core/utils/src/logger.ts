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
    serializers: { err: serializeError, error: serializeError },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  };
  if (config.name !== undefined) options.name = config.name;
  const destination = config.destination ?? pino.destination({ dest: 1, sync: false });
  return pino(options, createScrubbingStream(destination)) as unknown as Logger;
}

// Error properties censored at any depth of an error (the redact paths reach only two levels).
const SECRET_ERROR_KEYS = new Set(DEFAULT_REDACT_PATHS.filter((path) => /^[a-z_]+$/.test(path)));

/**
 * pino's `errWithCause`, minus what may hold a secret. ioredis puts the failed command on its reply errors (`command: { name, args }`), so a
 * failed `AUTH` or `HELLO 3 AUTH user pass` would otherwise log the password in clear; the
 * string scrubber cannot know that a bare array item is a password. In the error and every error it
 * carries (cause, aggregate errors, error-valued properties) a command's arguments are dropped
 * (`command` keeps only the command's name, `args` goes) and secret-named properties are
 * censored. The string scrubber still runs on the whole line afterwards.
 */
export function serializeError(err: unknown): unknown {
  return serializeWithin(err, new Set());
}

function serializeWithin(err: unknown, seen: Set<object>): unknown {
  const serialized = pino.stdSerializers.errWithCause(err as Error);
  if (serialized === err || serialized === null || typeof serialized !== 'object') return serialized;
  seen.add(err as object);
  stripSecrets(serialized as unknown as Record<string, unknown>, Object.getPrototypeOf(serialized), seen);
  return serialized;
}

function stripSecrets(error: Record<string, unknown>, errorProto: unknown, seen: Set<object>): void {
  if (seen.has(error)) return;
  seen.add(error);
  const command = error.command;
  if (command !== null && typeof command === 'object') {
    const name = (command as { name?: unknown }).name;
    if (typeof name === 'string') error.command = name;
    else delete error.command;
  }
  delete error.args;
  // pino copies an AggregateError's `errors` raw next to the serialized `aggregateErrors`.
  if (Array.isArray(error.aggregateErrors)) delete error.errors;
  for (const key of Object.keys(error)) {
    const value = error[key];
    if (SECRET_ERROR_KEYS.has(key) && value !== undefined) error[key] = '[REDACTED]';
    else if (Array.isArray(value)) {
      // A new array: other arrays than `aggregateErrors` are the error's own, not ours to change.
      error[key] = value.map((item: unknown) => {
        if (item instanceof Error) return seen.has(item) ? '[Circular]' : serializeWithin(item, seen);
        if (isSerializedError(item, errorProto)) stripSecrets(item, errorProto, seen);
        return item;
      });
    } else if (isSerializedError(value, errorProto)) stripSecrets(value, errorProto, seen);
  }
}

// Errors serialized by pino share one prototype; plain data under other keys is left alone.
function isSerializedError(value: unknown, errorProto: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === errorProto;
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
