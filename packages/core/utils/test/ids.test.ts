import { describe, expect, it } from 'vitest';
import { createManualClock } from '../src/clock.js';
import { getIdTime, isId, newId } from '../src/ids.js';

describe('ids', () => {
  it('makes UUIDv7 ids that sort by creation time', () => {
    const clock = createManualClock(Date.UTC(2026, 0, 1));
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) {
      ids.push(newId(clock));
      clock.advance(1);
    }
    expect(ids.every(isId)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(getIdTime(ids[0] ?? '')).toBe(Date.UTC(2026, 0, 1));
  });

  it('sorts ids of one millisecond in the order they were made (a counter, RFC 9562 method 3)', () => {
    const clock = createManualClock(Date.UTC(2026, 0, 2));
    const ids = Array.from({ length: 10_000 }, () => newId(clock));
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.every(isId)).toBe(true);
    expect([...ids].sort()).toEqual(ids);
    expect(ids.every((id) => getIdTime(id) === Date.UTC(2026, 0, 2))).toBe(true);
    // on the real clock too: a burst spans few milliseconds, and still sorts in order
    const burst = Array.from({ length: 10_000 }, () => newId());
    expect([...burst].sort()).toEqual(burst);
  });

  it('starts afresh when the clock goes back: the id carries the clock time', () => {
    const clock = createManualClock(Date.UTC(2026, 0, 3));
    newId(clock);
    clock.set(Date.UTC(2025, 0, 3));
    expect(getIdTime(newId(clock))).toBe(Date.UTC(2025, 0, 3));
  });

  it('recognizes only version 7 UUIDs', () => {
    expect(isId(newId())).toBe(true);
    expect(isId('6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(false);
    expect(isId('nope')).toBe(false);
    expect(isId(42)).toBe(false);
  });
});
