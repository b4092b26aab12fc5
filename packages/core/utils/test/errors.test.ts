import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { DianaError, isDianaError, toError, ValidationError } from '../src/errors.js';
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

  it('wraps thrown non-errors', () => {
    expect(toError('x').message).toBe('x');
    expect(toError({ a: 1 }).message).toBe('{"a":1}');
  });
});

describe('parseOrThrow', () => {
  const schema = v.object({ name: v.pipe(v.string(), v.minLength(2)), age: v.number() });

  it('returns the typed value', () => {
    expect(parseOrThrow(schema, { name: 'Lu', age: 3 })).toEqual({ name: 'Lu', age: 3 });
  });

  it('throws a ValidationError listing every issue with paths', () => {
    try {
      parseOrThrow(schema, { name: 'L', age: 'x' }, { code: 'E_USER_INVALID', message: 'bad user' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      const e = error as ValidationError<'E_USER_INVALID'>;
      expect(e.code).toBe('E_USER_INVALID');
      expect(e.issues.map((issue) => issue.path)).toEqual(['name', 'age']);
      expect(e.message).toContain('bad user');
    }
  });
});
