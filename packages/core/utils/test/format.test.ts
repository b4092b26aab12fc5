import { describe, expect, it } from 'vitest';
import { formatBesitos, formatDuration } from '../src/format.js';

describe('formatBesitos', () => {
  it('says besito(s) with Spanish grouping', () => {
    expect(formatBesitos(1)).toBe('1 besito');
    expect(formatBesitos(0)).toBe('0 besitos');
    expect(formatBesitos(250)).toBe('250 besitos');
    expect(formatBesitos(12_500)).toBe('12.500 besitos');
    expect(formatBesitos(12_500, 'en')).toBe('12,500 besitos');
  });
});

describe('formatDuration', () => {
  it('uses the two largest units', () => {
    expect(formatDuration(45_000)).toBe('45 s');
    expect(formatDuration(2 * 3_600_000 + 5 * 60_000 + 9_000)).toBe('2 h 5 min');
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe('3 d 4 h');
    expect(formatDuration(500)).toBe('0 s');
    expect(formatDuration(-10)).toBe('0 s');
    expect(formatDuration(90_000, 'en')).toBe('1 min 30 sec');
  });
});
