import { type Clock, createCloser, SYSTEM_CLOCK } from '@diana/utils';
import {
  checkDocumentArgs as check,
  versionConflict as conflict,
  type DocumentData,
  type DocumentStore,
  type FieldValue,
  type StoredDocument,
} from '../documents.js';

/** A DocumentStore in process memory with the same semantics as the others (tests, embedded use). */
export function createMemoryDocumentStore(deps: { clock?: Clock } = {}): DocumentStore {
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const collections = new Map<string, Map<string, StoredDocument>>();
  const of = (name: string) => {
    let docs = collections.get(name);
    if (!docs) {
      docs = new Map();
      collections.set(name, docs);
    }
    return docs;
  };
  const closer = createCloser(() => collections.clear());
  const copy = <T extends DocumentData>(doc: StoredDocument): StoredDocument<T> =>
    ({ ...doc, data: structuredClone(doc.data), updated_at: new Date(doc.updated_at) }) as StoredDocument<T>;

  return {
    async get<T extends DocumentData>(collection: string, id: string) {
      const doc = of(check.collection(collection)).get(check.id(id));
      return doc ? copy<T>(doc) : undefined;
    },
    async put<T extends DocumentData>(
      collection: string,
      doc: { id: string; data: T },
      options?: { expectedVersion?: number },
    ) {
      const docs = of(check.collection(collection));
      const id = check.id(doc.id);
      const data = check.data(doc.data);
      const expected = check.options(options);
      const current = docs.get(id);
      if (expected !== undefined && (current?.version ?? 0) !== expected) throw conflict(collection, id, expected);
      const stored: StoredDocument = {
        id,
        version: (current?.version ?? 0) + 1,
        data,
        updated_at: new Date(clock.now()),
      };
      docs.set(id, stored);
      return copy<T>(stored);
    },
    async find<T extends DocumentData>(collection: string, query?: Parameters<DocumentStore['find']>[1]) {
      const docs = of(check.collection(collection));
      const { where, sort, limit } = check.query(query);
      const matches = [...docs.values()].filter((doc) =>
        Object.entries(where).every(([field, value]) => field in doc.data && equal(doc.data[field], value)),
      );
      matches.sort((a, b) => {
        for (const { field, direction } of sort) {
          const order = compare(a.data[field], b.data[field]);
          if (order !== 0) return direction === 'desc' ? -order : order;
        }
        return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
      });
      return matches.slice(0, limit).map((doc) => copy<T>(doc));
    },
    async delete(collection, id, options) {
      const docs = of(check.collection(collection));
      const key = check.id(id);
      const expected = check.options(options);
      const current = docs.get(key);
      if (!current) return false;
      if (expected !== undefined && current.version !== expected) throw conflict(collection, key, expected);
      return docs.delete(key);
    },
    close: closer.close,
    [Symbol.asyncDispose]: closer.close,
  };
}

function equal(stored: unknown, wanted: FieldValue): boolean {
  return stored === wanted;
}

// Same-typed values compare naturally; mixed types order null < boolean < number < string.
function compare(a: unknown, b: unknown): number {
  const rank = (x: unknown) =>
    x === null || x === undefined ? 0 : typeof x === 'boolean' ? 1 : typeof x === 'number' ? 2 : 3;
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  if (ra === 0) return 0;
  return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
}
