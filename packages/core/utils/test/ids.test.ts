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

  it('recognizes only version 7 UUIDs', () => {
    expect(isId(newId())).toBe(true);
    expect(isId('6ba7b810-9dad-11d1-80b4-00c04fd430c8')).toBe(false);
    expect(isId('nope')).toBe(false);
    expect(isId(42)).toBe(false);
  });
});
