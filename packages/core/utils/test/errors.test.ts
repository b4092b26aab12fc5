import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { DianaError, isDianaError, isUnavailable, toError, ValidationError } from '../src/errors.js';
import { parseOrThrow } from '../src/validation.js';

describe('errors', () => {
  it('carry a code, a cause and context', () => {
    const cause = new Error('socket closed');
    const error = new DianaError('E_CACHE_UNAVAILABLE', 'redis is down', { cause, context: { op: 'get' } });
    expect(error.code).toBe('E_CACHE_UNAVAILABLE');
    expect(error.cause).toBe(cause);
    expect(isDianaError(error, 'E_CACHE_UNAVAILABLE')).toBe(true);
    expect(isDianaError(error, 'E_OTHER')).toBe(false);
    expect(isDianaError(cause)).toBe(false);
    expect(JSON.parse(JSON.stringify(error))).toMatchObject({ code: 'E_CACHE_UNAVAILABLE', context: { op: 'get' } });
  });

  it('recognizes a DianaError by its shape, so two copies of this package agree', () => {
    // what another installed copy of @diana/utils throws: same shape, another class
    class OtherCopyError extends Error {
      readonly code = 'E_DB_UNAVAILABLE';
      readonly context = { host: 'db' };
    }
    const foreign = new OtherCopyError('down');
    expect(foreign instanceof DianaError).toBe(false);
    expect(isDianaError(foreign)).toBe(true);
    expect(isDianaError(foreign, 'E_DB_UNAVAILABLE')).toBe(true);
    expect(isDianaError(foreign, 'E_DB_TIMEOUT')).toBe(false);
    // errors with other codes are not ours: Node's, PostgreSQL's, a plain object
    expect(isDianaError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED', context: {} }))).toBe(false);
    expect(isDianaError(Object.assign(new Error('x'), { code: 'ERR_MODULE_NOT_FOUND', context: {} }))).toBe(false);
    expect(isDianaError(Object.assign(new Error('x'), { code: '57P01' }))).toBe(false);
    expect(isDianaError(Object.assign(new Error('x'), { code: 'E_DB_UNAVAILABLE' }))).toBe(false);
    expect(isDianaError({ code: 'E_DB_UNAVAILABLE', context: {}, message: 'not an Error' })).toBe(false);
  });

  it('wraps thrown non-errors', () => {
    expect(toError('x').message).toBe('x');
    expect(toError({ a: 1 }).message).toBe('{"a":1}');
  });
});

describe('isUnavailable', () => {
  it('finds a backend outage in the error or its causes, and nothing else', () => {
    const down = new DianaError('E_DB_UNAVAILABLE', 'connect ECONNREFUSED');
    expect(isUnavailable(down)).toBe(true);
    expect(isUnavailable(new DianaError('E_CACHE_FACTORY_FAILED', 'factory failed', { cause: down }))).toBe(true);
    expect(isUnavailable(new DianaError('E_DB_CONFLICT', 'duplicate'))).toBe(false);
    expect(isUnavailable(new Error('E_DB_UNAVAILABLE'))).toBe(false);
    expect(isUnavailable(undefined)).toBe(false);
    // a chain deeper than five is not followed (and a cycle ends)
    let deep: Error = down;
    for (let i = 0; i < 5; i++) deep = new Error(`wrap ${i}`, { cause: deep });
    expect(isUnavailable(deep)).toBe(false);
    const cycle = new Error('a') as Error & { cause?: unknown };
    cycle.cause = cycle;
    expect(isUnavailable(cycle)).toBe(false);
  });
});

describe('parseOrThrow', () => {
  const schema = v.object({ name: v.pipe(v.string(), v.minLength(2)), age: v.number() });

  it('returns the typed value', () => {
    expect(parseOrThrow(schema, { name: 'Lu', age: 3 })).toEqual({ name: 'Lu', age: 3 });
  });

  it('throws a ValidationError listing every issue with paths', () => {
    try {
      parseOrThrow(schema, { name: 'L', age: 'x' }, { code: 'E_DB_USER_INVALID', message: 'bad user' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const e = error as ValidationError<'E_DB_USER_INVALID'>;
      expect(e.code).toBe('E_DB_USER_INVALID');
      expect(e.issues.map((issue) => issue.path)).toEqual(['name', 'age']);
      expect(e.message).toContain('bad user');
    }
  });

  it('says what an integer check expected (valibot leaves it null)', () => {
    const counts = v.object({ n: v.pipe(v.number(), v.integer()), id: v.pipe(v.number(), v.safeInteger()) });
    try {
      parseOrThrow(counts, { n: 1.5, id: 2 ** 60 });
      expect.unreachable();
    } catch (error) {
      expect((error as ValidationError).issues).toEqual([
        expect.objectContaining({ path: 'n', expected: 'integer', received: '1.5' }),
        expect.objectContaining({ path: 'id', expected: 'safe integer' }),
      ]);
    }
  });
});
