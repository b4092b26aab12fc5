import {
  type Closeable,
  DianaError,
  isUnstorableText,
  parseOrThrow,
  unstorablePaths,
  ValidationError,
} from '@diana/utils';
import * as v from 'valibot';
import { DB_ERROR_CODES } from './errors.js';

/** A document's content: a JSON object (values round-trip through JSON). */
export type DocumentData = Record<string, unknown>;

/** A document as stored: its content plus the version every write increments. */
export interface StoredDocument<T extends DocumentData = DocumentData> {
  readonly id: string;
  /** 1 after the first write, +1 on every write. */
  readonly version: number;
  readonly data: T;
  readonly updated_at: Date;
}

/** A value `find` can compare a top-level field with. */
export type FieldValue = string | number | boolean | null;

/** What `find` returns: documents whose top-level fields equal `where`, sorted, at most `limit`. */
export interface FindQuery {
  readonly where?: Readonly<Record<string, FieldValue>>;
  /** Top-level fields to sort by; ties are broken by id. Sort on fields every document has. */
  readonly sort?: ReadonlyArray<{ readonly field: string; readonly direction?: 'asc' | 'desc' }>;
  /** @default 1000 (at most 10 000) */
  readonly limit?: number;
}

/** Optimistic concurrency for writes. */
export interface WriteOptions {
  /** The version the caller read; `0` means "must not exist yet". Omit to write unconditionally. */
  readonly expectedVersion?: number;
}

/**
 * The port for schemaless documents (narrative content, per-user narrative state).
 * Adapters: postgres (JSONB, the default), mongo, memory; the conformance suite in
 * `@diana/db/testing` defines the semantics.
 */
export interface DocumentStore extends Closeable {
  get<T extends DocumentData = DocumentData>(collection: string, id: string): Promise<StoredDocument<T> | undefined>;
  /** Writes `data` under `id`; `E_DB_VERSION_CONFLICT` when `expectedVersion` does not match. */
  put<T extends DocumentData>(
    collection: string,
    doc: { id: string; data: T },
    options?: WriteOptions,
  ): Promise<StoredDocument<T>>;
  find<T extends DocumentData = DocumentData>(collection: string, query?: FindQuery): Promise<StoredDocument<T>[]>;
  /** True when a document was deleted; `E_DB_VERSION_CONFLICT` when `expectedVersion` does not match. */
  delete(collection: string, id: string, options?: WriteOptions): Promise<boolean>;
}

/** Default and maximum of `FindQuery.limit`. */
export const DEFAULT_FIND_LIMIT = 1000;
export const MAX_FIND_LIMIT = 10_000;

/** The largest document, as JSON (MongoDB's limit; jsonb's own is about 255 MB). */
export const MAX_DOCUMENT_BYTES = 16 * 1024 * 1024;

// PostgreSQL holds no U+0000 and no half of a surrogate pair (UTF-8 turns one into U+FFFD, so
// two ids differing only there would be one row)
const storable = (s: string) => !isUnstorableText(s);
const STORABLE = 'must not contain U+0000 or a lone surrogate';
const Collection = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z][A-Za-z0-9_.-]{0,127}$/, 'must be a collection name ([A-Za-z][A-Za-z0-9_.-]*, ≤ 128)'),
);
const Id = v.pipe(v.string(), v.minLength(1, 'must not be empty'), v.maxLength(256), v.check(storable, STORABLE));
const Field = v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'must be a top-level field name'));
const Version = v.pipe(v.number(), v.safeInteger(), v.minValue(0));
// Checked as given (valibot's record() would copy arrays into plain objects before a check).
const Data = v.custom<DocumentData>(
  (data) => typeof data === 'object' && data !== null && !Array.isArray(data) && isJsonObject(data),
  'must be a JSON object (no functions, undefined in arrays, NaN or cycles)',
);
const Query = v.object({
  where: v.optional(
    v.record(Field, v.union([v.pipe(v.string(), v.check(storable, STORABLE)), v.number(), v.boolean(), v.null()])),
  ),
  sort: v.optional(v.array(v.object({ field: Field, direction: v.optional(v.picklist(['asc', 'desc'])) }))),
  limit: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_FIND_LIMIT))),
});
const invalid = { code: DB_ERROR_CODES.DOCUMENT_INVALID, message: 'invalid document request' };

/** Checks the arguments of a document-store call (every adapter calls these first). */
export const checkDocumentArgs = {
  collection: (value: unknown) => parseOrThrow(Collection, value, invalid),
  id: (value: unknown) => parseOrThrow(Id, value, invalid),
  data: <T extends DocumentData>(value: T): T => {
    parseOrThrow(Data, value, invalid);
    // JSON round trip: every adapter stores exactly what JSON can say, and PostgreSQL can hold.
    const json = JSON.stringify(value);
    const issues = unstorablePaths(value).map((at) => ({ path: at.join('.'), message: STORABLE }));
    if (Buffer.byteLength(json) > MAX_DOCUMENT_BYTES)
      issues.push({ path: '', message: `must be at most ${MAX_DOCUMENT_BYTES} bytes as JSON` });
    if (issues.length > 0) throw new ValidationError(invalid.code, invalid.message, issues);
    return JSON.parse(json) as T;
  },
  options: (value: WriteOptions | undefined) =>
    value?.expectedVersion === undefined ? undefined : parseOrThrow(Version, value.expectedVersion, invalid),
  query: (value: FindQuery | undefined) => {
    const query = parseOrThrow(Query, value ?? {}, invalid);
    return { where: query.where ?? {}, sort: query.sort ?? [], limit: query.limit ?? DEFAULT_FIND_LIMIT };
  },
};

/** The error every adapter raises for a failed optimistic write. */
export function versionConflict(collection: string, id: string, expected: number): DianaError {
  return new DianaError(DB_ERROR_CODES.VERSION_CONFLICT, `${collection}/${id} is not at version ${expected}`, {
    context: { collection, id, expected_version: expected },
  });
}

function isJsonObject(value: unknown, seen = new Set<unknown>()): boolean {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return true;
  if (typeof value === 'number') return Number.isFinite(value);
  if (typeof value !== 'object' || seen.has(value)) return false;
  seen.add(value);
  const items = Array.isArray(value) ? value : Object.values(value as object);
  const ok = items.every((item) => (item === undefined ? !Array.isArray(value) : isJsonObject(item, seen)));
  seen.delete(value);
  return ok;
}
