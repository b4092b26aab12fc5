import { useTestDatabase } from '@diana/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { createPostgres } from '../src/index.js';

// The vendored driver's result: an array of rows whose statement fields (count, command,
// columns, state, statement) are readable and settable but not own properties — they stay out
// of keys, JSON and equality with a plain array, as in stock postgres.js. And the species of a
// query and of a result: plain promises and plain arrays derive from them, as in stock, through a
// data property rather than stock's static getter (which kept V8 from optimizing the query); and
// the Database's wrapping of a query, through the driver's hook rather than an own `then`.
const testDb = await useTestDatabase('vendored-result');
const db = createPostgres({ url: testDb.url, pool_max: 1 });
afterAll(() => db.close());

describe('a query result', () => {
  it('is an array of its rows that carries the statement fields out of sight', async () => {
    const rows = await db.sql<{ a: number; b: string }[]>`select 1::int as a, 'x' as b union all select 2, 'y'`;
    expect(rows).toEqual([
      { a: 1, b: 'x' },
      { a: 2, b: 'y' },
    ]);
    expect(Array.isArray(rows)).toBe(true);
    expect(Object.keys(rows)).toEqual(['0', '1']);
    expect(JSON.stringify(rows)).toBe('[{"a":1,"b":"x"},{"a":2,"b":"y"}]');
    expect(rows.count).toBe(2);
    expect(rows.command).toBe('SELECT');
    expect(rows.columns.map((c) => c.name)).toEqual(['a', 'b']);
    expect(rows.statement).toBeDefined();
    expect(rows.state).toBeDefined();
    // derived arrays are plain arrays
    expect(rows.map((r) => r.a)).toEqual([1, 2]);
    expect(Object.getPrototypeOf(rows.filter(() => true))).toBe(Array.prototype);
    // a write's count and command
    const written = await db.sql`create table t_result (v int)`;
    expect(written.command).toBe('CREATE TABLE');
    const inserted = await db.sql`insert into t_result select generate_series(1, 3)`;
    expect(inserted.count).toBe(3);
    expect(inserted.command).toBe('INSERT');
    expect(inserted).toEqual([]);
  });
});

describe('a query and a result derive plain promises and arrays', () => {
  it('then, catch and finally of a query return plain promises; the species is a data property', async () => {
    const query = db.sql<{ one: number }[]>`select 1::int as one`;
    const Query = Object.getPrototypeOf(query).constructor;
    expect(Query).not.toBe(Promise);
    const derived = [query.then((rows) => rows), query.catch(() => []), query.finally(() => {})];
    for (const promise of derived) expect(Object.getPrototypeOf(promise)).toBe(Promise.prototype);
    expect(await derived[0]).toEqual([{ one: 1 }]);
    const species = Object.getOwnPropertyDescriptor(Query, Symbol.species);
    expect(species?.value).toBe(Promise);
    expect(species?.get).toBeUndefined();
    const rows = await db.sql`select 1::int as one`;
    const arrays = Object.getOwnPropertyDescriptor(Object.getPrototypeOf(rows).constructor, Symbol.species);
    expect(arrays?.value).toBe(Array);
    expect(arrays?.get).toBeUndefined();
    expect(Object.getPrototypeOf(rows.slice())).toBe(Array.prototype);
  });

  it('a query through the Database has no own `then` (one on any promise slows every promise of the process)', async () => {
    const query = db.sql<{ one: number }[]>`select 1::int as one`;
    expect(Object.hasOwn(query, 'then')).toBe(false);
    expect(await query).toEqual([{ one: 1 }]);
    const inTx = await db.transaction(async (tx) => {
      const statement = tx<{ two: number }[]>`select 2::int as two`;
      expect(Object.hasOwn(statement, 'then')).toBe(false);
      return statement;
    });
    expect(inTx).toEqual([{ two: 2 }]);
  });
});
