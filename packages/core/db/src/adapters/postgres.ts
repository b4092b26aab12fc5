import type { PendingQuery, Row } from '@diana/postgres';
import { createCloser } from '@diana/utils';
import {
  checkDocumentArgs as check,
  type DocumentData,
  type DocumentStore,
  type StoredDocument,
  versionConflict,
} from '../documents.js';
import type { Database } from '../postgres.js';

interface DocumentRow {
  id: string;
  version: number;
  data: DocumentData;
  updated_at: Date;
}

/**
 * The DocumentStore on PostgreSQL (table `documents`, JSONB with a GIN index): the default
 * when no MongoDB is configured. It joins the transaction in progress (`db.session()`).
 * The database is borrowed: `close()` does not close it.
 */
export function createPostgresDocumentStore(db: Database): DocumentStore {
  const closer = createCloser(() => {});
  // Rows are selected in the shape of a StoredDocument.
  const toDoc = <T extends DocumentData>(row: DocumentRow) => row as StoredDocument<T>;

  return {
    async get<T extends DocumentData>(collection: string, id: string) {
      const sql = db.session();
      const [row] = await sql<DocumentRow[]>`
        select id, version, data, updated_at from documents
        where collection = ${check.collection(collection)} and id = ${check.id(id)}`;
      return row ? toDoc<T>(row) : undefined;
    },

    async put<T extends DocumentData>(
      collection: string,
      doc: { id: string; data: T },
      options?: { expectedVersion?: number },
    ) {
      const name = check.collection(collection);
      const id = check.id(doc.id);
      const data = check.data(doc.data);
      const expected = check.options(options);
      const sql = db.session();
      const json = sql.json(data as Parameters<typeof sql.json>[0]);
      let rows: DocumentRow[];
      if (expected === undefined) {
        rows = await sql<DocumentRow[]>`
          insert into documents (collection, id, version, data) values (${name}, ${id}, 1, ${json})
          on conflict (collection, id) do update
            set data = excluded.data, version = documents.version + 1, updated_at = now()
          returning id, version, data, updated_at`;
      } else if (expected === 0) {
        rows = await sql<DocumentRow[]>`
          insert into documents (collection, id, version, data) values (${name}, ${id}, 1, ${json})
          on conflict (collection, id) do nothing
          returning id, version, data, updated_at`;
      } else {
        rows = await sql<DocumentRow[]>`
          update documents set data = ${json}, version = version + 1, updated_at = now()
          where collection = ${name} and id = ${id} and version = ${expected}
          returning id, version, data, updated_at`;
      }
      const [row] = rows;
      if (!row) throw versionConflict(name, id, expected ?? 0);
      return toDoc<T>(row);
    },

    async find<T extends DocumentData>(collection: string, query?: Parameters<DocumentStore['find']>[1]) {
      const name = check.collection(collection);
      const { where, sort, limit } = check.query(query);
      const sql = db.session();
      // Field names are parameters (data -> $n), never spliced into the SQL text.
      const orderBy = [
        ...sort.map(({ field, direction }) =>
          direction === 'desc' ? sql`data -> ${field} desc nulls last` : sql`data -> ${field} asc nulls last`,
        ),
        sql`id asc`,
      ].reduce((acc: PendingQuery<Row[]> | undefined, part) => (acc ? sql`${acc}, ${part}` : part), undefined);
      const rows = await sql<DocumentRow[]>`
        select id, version, data, updated_at from documents
        where collection = ${name} and data @> ${sql.json(where as Parameters<typeof sql.json>[0])}
        order by ${orderBy!}
        limit ${limit}`;
      return rows.map((row) => toDoc<T>(row));
    },

    async delete(collection, id, options) {
      const name = check.collection(collection);
      const key = check.id(id);
      const expected = check.options(options);
      const sql = db.session();
      if (expected === undefined) {
        const rows = await sql`delete from documents where collection = ${name} and id = ${key} returning id`;
        return rows.length > 0;
      }
      const rows = await sql<{ deleted: boolean }[]>`
        with target as (select version from documents where collection = ${name} and id = ${key}),
             removed as (delete from documents where collection = ${name} and id = ${key} and version = ${expected} returning id)
        select exists (select 1 from removed) as deleted, exists (select 1 from target) as existed`;
      const [row] = rows as unknown as { deleted: boolean; existed: boolean }[];
      if (row?.deleted) return true;
      if (row?.existed) throw versionConflict(name, key, expected);
      return false;
    },

    close: closer.close,
    [Symbol.asyncDispose]: closer.close,
  };
}
