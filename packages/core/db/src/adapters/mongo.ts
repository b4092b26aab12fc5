import { createCloser } from '@diana/utils';
import type { Db, Document, Filter, Sort } from 'mongodb';
import {
  checkDocumentArgs as check,
  type DocumentData,
  type DocumentStore,
  type StoredDocument,
  versionConflict,
} from '../documents.js';

interface MongoDocument {
  _id: string;
  version: number;
  data: DocumentData;
  updated_at: Date;
}

const DUPLICATE_KEY = 11000;

/**
 * The DocumentStore on MongoDB: one collection per document collection, each document
 * `{ _id, version, data, updated_at }`. The database handle is borrowed, never closed here.
 */
export function createMongoDocumentStore(db: Db): DocumentStore {
  const closer = createCloser(() => {});
  const coll = (name: string) => db.collection<MongoDocument>(check.collection(name));
  const toDoc = <T extends DocumentData>(doc: MongoDocument): StoredDocument<T> => ({
    id: doc._id,
    version: doc.version,
    data: doc.data as T,
    updated_at: doc.updated_at,
  });

  return {
    async get<T extends DocumentData>(collection: string, id: string) {
      const doc = await coll(collection).findOne({ _id: check.id(id) });
      return doc ? toDoc<T>(doc) : undefined;
    },

    async put<T extends DocumentData>(
      collection: string,
      doc: { id: string; data: T },
      options?: { expectedVersion?: number },
    ) {
      const target = coll(collection);
      const id = check.id(doc.id);
      const data = check.data(doc.data);
      const expected = check.options(options);
      const now = new Date();
      if (expected === 0) {
        try {
          await target.insertOne({ _id: id, version: 1, data, updated_at: now });
        } catch (error) {
          if ((error as { code?: number }).code === DUPLICATE_KEY) throw versionConflict(collection, id, 0);
          throw error;
        }
        return { id, version: 1, data: data as T, updated_at: now };
      }
      const filter: Filter<MongoDocument> = expected === undefined ? { _id: id } : { _id: id, version: expected };
      const updated = await target.findOneAndUpdate(
        filter,
        { $set: { data, updated_at: now }, $inc: { version: 1 } },
        { upsert: expected === undefined, returnDocument: 'after' },
      );
      if (!updated) throw versionConflict(collection, id, expected ?? 0);
      return toDoc<T>(updated);
    },

    async find<T extends DocumentData>(collection: string, query?: Parameters<DocumentStore['find']>[1]) {
      const { where, sort, limit } = check.query(query);
      const filter: Document = {};
      for (const [field, value] of Object.entries(where)) {
        // { x: null } in MongoDB also matches a missing field; ours means "present and null".
        filter[`data.${field}`] = value === null ? { $eq: null, $exists: true } : value;
      }
      const order: Sort = {};
      for (const { field, direction } of sort)
        (order as Record<string, 1 | -1>)[`data.${field}`] = direction === 'desc' ? -1 : 1;
      (order as Record<string, 1 | -1>)._id = 1;
      const docs = await coll(collection).find(filter).sort(order).limit(limit).toArray();
      return docs.map((doc) => toDoc<T>(doc));
    },

    async delete(collection, id, options) {
      const key = check.id(id);
      const expected = check.options(options);
      const target = coll(collection);
      if (expected === undefined) return (await target.deleteOne({ _id: key })).deletedCount === 1;
      const result = await target.deleteOne({ _id: key, version: expected });
      if (result.deletedCount === 1) return true;
      if (await target.countDocuments({ _id: key }, { limit: 1 })) throw versionConflict(collection, key, expected);
      return false;
    },

    close: closer.close,
    [Symbol.asyncDispose]: closer.close,
  };
}
