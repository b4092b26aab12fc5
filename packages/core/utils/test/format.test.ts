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

  it('gives the same text whatever was formatted before (the kept amounts, a full keep, -0, other locales)', () => {
    const fresh = (n: number, locale = 'es') =>
      `${new Intl.NumberFormat(locale, { maximumFractionDigits: 0 }).format(n + 0)} ${Math.abs(n) === 1 ? 'besito' : 'besitos'}`;
    expect(formatBesitos(0)).toBe('0 besitos');
    expect(formatBesitos(-0)).toBe('0 besitos');
    expect(formatBesitos(-1)).toBe('-1 besito');
    // past what is kept (4 096 amounts): dropped and formatted again, never another amount's text
    for (let n = 0; n < 10_000; n += 1) expect(formatBesitos(n * 7 - 3_000)).toBe(fresh(n * 7 - 3_000));
    for (const n of [1, 2.4, 1_234_567, -50, 9_999_999]) {
      expect(formatBesitos(n)).toBe(fresh(n));
      expect(formatBesitos(n, 'en')).toBe(fresh(n, 'en'));
      expect(formatBesitos(n)).toBe(fresh(n));
    }
  });
});

describe('formatDuration', () => {
  it('uses the two largest units', () => {
    expect(formatDuration(45_000)).toBe('45 segundos');
    expect(formatDuration(2 * 3_600_000 + 5 * 60_000 + 9_000)).toBe('2 horas y 5 minutos');
    expect(formatDuration(3 * 86_400_000 + 4 * 3_600_000)).toBe('3 días y 4 horas');
    expect(formatDuration(500)).toBe('0 segundos');
    expect(formatDuration(-10)).toBe('0 segundos');
    expect(formatDuration(90_000, 'en')).toBe('1 minute and 30 seconds');
  });

  it('says one unit in the singular, and no second part when that part is zero', () => {
    expect(formatDuration(86_400_000)).toBe('1 día');
    expect(formatDuration(3_600_000 + 60_000)).toBe('1 hora y 1 minuto');
    expect(formatDuration(86_400_000 + 59_000)).toBe('1 día');
    expect(formatDuration(1_000)).toBe('1 segundo');
  });
});
