/** One problem found while validating a value; `path` is dotted (`redis.url`, `items.0.id`). */
export interface Issue {
  readonly path: string;
  readonly message: string;
  readonly expected?: string | undefined;
  readonly received?: string | undefined;
}

/** Options accepted by every Diana error. */
export interface DianaErrorOptions {
  readonly cause?: unknown;
  /** Extra facts for logs and callers (ids, limits); never secrets. */
  readonly context?: Readonly<Record<string, unknown>>;
}

/** Base error of every Diana package: checked by its literal `code`, never by message. */
export class DianaError<Code extends string = string> extends Error {
  readonly code: Code;
  readonly context: Readonly<Record<string, unknown>>;

  constructor(code: Code, message: string, options: DianaErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DianaError';
    this.code = code;
    this.context = options.context ?? {};
  }

  toJSON(): Record<string, unknown> {
    return { name: this.name, code: this.code, message: this.message, context: this.context };
  }
}

/** A value failed a schema; `issues` lists every problem as data. */
export class ValidationError<Code extends string = 'E_UTILS_VALIDATION'> extends DianaError<Code> {
  readonly issues: readonly Issue[];

  constructor(code: Code, message: string, issues: readonly Issue[], options: DianaErrorOptions = {}) {
    super(code, `${message}: ${formatIssues(issues)}`, options);
    this.name = 'ValidationError';
    this.issues = Object.freeze([...issues]);
  }

  override toJSON(): Record<string, unknown> {
    return { ...super.toJSON(), issues: this.issues };
  }
}

/** The shape of every Diana code: `E_` and upper-case words (`E_DB_UNAVAILABLE`). */
const CODE_SHAPE = /^E_[A-Z][A-Z0-9_]*$/;

/**
 * True when `error` is a DianaError, optionally with the given code. Checks the shape (an
 * Error with a Diana-shaped `code` and a `context` object), not `instanceof`: an error thrown
 * by another copy of this package (two versions installed side by side) is recognized too.
 */
export function isDianaError<Code extends string>(error: unknown, code?: Code): error is DianaError<Code> {
  if (!(error instanceof Error)) return false;
  const { code: actual, context } = error as { code?: unknown; context?: unknown };
  return (
    typeof actual === 'string' &&
    CODE_SHAPE.test(actual) &&
    typeof context === 'object' &&
    context !== null &&
    (code === undefined || actual === code)
  );
}

/**
 * A failure that says a backend is down, not that the work was wrong: a Diana error whose code
 * ends in `_UNAVAILABLE` (`E_DB_UNAVAILABLE`, `E_STATE_UNAVAILABLE`, …), here or among its first
 * causes (a cache factory's `E_CACHE_FACTORY_FAILED` around the database's refusal). Work that
 * failed so is worth doing again once the backend answers.
 */
export function isUnavailable(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (isDianaError(current) && current.code.endsWith('_UNAVAILABLE')) return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** Turns any thrown value into an Error, keeping Errors as they are. */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === 'string' ? value : safeString(value));
}

function formatIssues(issues: readonly Issue[]): string {
  if (issues.length === 0) return 'no details';
  return issues.map((issue) => (issue.path ? `${issue.path}: ${issue.message}` : issue.message)).join('; ');
}

function safeString(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}
