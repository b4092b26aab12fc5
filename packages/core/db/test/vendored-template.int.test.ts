// The vendored driver builds a tagged query's text once per template and its statement signature
// once per list of parameter types (`stringifyPlain` in types.js). What it sends must be what
// stock postgres.js 3.4.9 sends: the same text, parameters and types for every shape of query
// (plain values, nulls, arrays, typed parameters, fragments, identifiers, helpers, unsafe), and
// a call site whose values change type must get a statement prepared for those types.
import vendored from '@diana/postgres';
import { useTestDatabase } from '@diana/test-services';
import fc from 'fast-check';
import stock from 'postgres';
import { afterAll, describe, expect, it } from 'vitest';

const testDb = await useTestDatabase('vendored-template');

type Sent = [text: string, parameters: unknown[], types: unknown[]];
type Sql = ReturnType<typeof vendored>;
const open = (driver: typeof vendored) => {
  const sent: Sent[] = [];
  const sql = driver(testDb.url, {
    max: 1,
    onnotice: () => {},
    debug: (_connection: number, text: string, parameters: unknown[], types: unknown[]) =>
      void sent.push([text, [...parameters], [...types]]),
  });
  return { sql, sent };
};
const ours = open(vendored);
const theirs = open(stock as unknown as typeof vendored);
afterAll(async () => {
  await ours.sql.end({ timeout: 1 });
  await theirs.sql.end({ timeout: 1 });
});

// Each shape is one call site: run twice with different values, the second run meets the cache.
const SHAPES: Record<string, (sql: Sql, n: number) => unknown> = {
  plain: (sql, n) => sql`select ${n}::int as a, ${`x${n}`}::text as b, ${n % 2 === 0} as even`,
  nulls: (sql, n) => sql`select ${n % 2 ? null : n}::int as maybe, ${n}::int as n`,
  arrays: (sql, n) => sql`select ${[n, n + 1, n + 2]}::int[] as xs, ${[`a${n}`, 'b"\\']}::text[] as ys`,
  typed: (sql, n) => sql`select ${sql.json({ n, nested: [n] })}::jsonb as j, ${sql.typed(String(n), 23)} as t`,
  dates: (sql, n) => sql`select ${new Date(Date.UTC(2026, 0, n))}::timestamptz as at`,
  fragment: (sql, n) => sql`select ${n}::int as n ${n % 2 ? sql`, ${'odd'}::text as kind` : sql``}`,
  identifier: (sql, n) => sql`select ${sql(n % 2 ? 'a' : 'b')} from (select ${n}::int as a, ${-n}::int as b) t`,
  helper: (sql, n) => sql`select * from (values ${sql([[n, `v${n}`]])}) as t (x, y)`,
  unsafe: (sql, n) => sql.unsafe('select $1::int + $2::int as sum', [n, n]),
};

describe('a tagged query built from its template', () => {
  it.each(Object.keys(SHAPES))('%s: sends what stock sends and reads the same rows', async (shape) => {
    const run = SHAPES[shape] as (sql: Sql, n: number) => unknown;
    for (const n of [1, 2, 3]) {
      const [a, b] = await Promise.all([run(ours.sql, n), run(theirs.sql, n)]);
      expect(a).toEqual(b);
    }
    expect(ours.sent.slice(-3)).toEqual(theirs.sent.slice(-3));
  });

  it('one call site whose values change type gets a statement for each list of types', async () => {
    const site = (sql: Sql, v: unknown) => sql`select ${v as never}::text as v`;
    const values: unknown[] = [1, new Date(Date.UTC(2026, 0, 1)), true, 'x', 2n, null, Buffer.from('ab'), false, 7];
    for (const v of values) {
      const [a, b] = await Promise.all([site(ours.sql, v), site(theirs.sql, v)]);
      expect(a).toEqual(b);
    }
    expect(ours.sent.slice(-values.length)).toEqual(theirs.sent.slice(-values.length));
    // the values brought several lists of types (else the case above tested one statement)
    expect(new Set(ours.sent.slice(-values.length).map((s) => s[2].join(','))).size).toBeGreaterThan(3);
  });

  it('past the signatures a template keeps, more type lists still prepare their own statements', async () => {
    // 5 parameters of 2 inferred types each: 32 lists of types, beyond the 16 kept per template. A
    // date reads differently through a statement prepared for a string (its text is not the
    // server's timestamptz), so a statement reused across lists of types shows in the rows
    const site = (sql: Sql, vs: unknown[]) =>
      sql`select ${vs[0] as never}::text || ${vs[1] as never}::text || ${vs[2] as never}::text || ${vs[3] as never}::text || ${vs[4] as never}::text as v`;
    for (let mask = 0; mask < 32; mask++) {
      const vs = [0, 1, 2, 3, 4].map((bit) => (mask & (1 << bit) ? new Date(Date.UTC(2026, 0, bit + 1)) : `s${bit}`));
      const [a, b] = await Promise.all([site(ours.sql, vs), site(theirs.sql, vs)]);
      expect(a).toEqual(b);
    }
    expect(ours.sent.slice(-32)).toEqual(theirs.sent.slice(-32));
  });

  it('for any values at one call site, the text, parameters and types are stock’s', async () => {
    const site = (sql: Sql, a: unknown, b: unknown, c: unknown) =>
      sql`select ${a as never}::text as a, ${b as never}::text as b, ${c as never}::text as c`;
    const value = fc.oneof(
      fc.integer(),
      fc.string().filter((s) => !s.includes('\u0000')),
      fc.boolean(),
      fc.constant(null),
      fc.date({ min: new Date(0), max: new Date(4e12), noInvalidDate: true }),
    );
    await fc.assert(
      fc.asyncProperty(value, value, value, async (a, b, c) => {
        const [x, y] = await Promise.all([site(ours.sql, a, b, c), site(theirs.sql, a, b, c)]);
        expect(x).toEqual(y);
        expect(ours.sent.at(-1)).toEqual(theirs.sent.at(-1));
      }),
      { numRuns: 100 },
    );
  });
});
