import { describe, expect, it } from 'vitest';
import { formatDayMonth } from '../src/profile.js';

describe('formatDayMonth', () => {
  const now = new Date('2026-11-29T10:00:00Z');
  it('says the day and month in Spanish, in the bot’s timezone', () => {
    expect(formatDayMonth(new Date('2026-12-28T12:00:00Z'), 'Europe/Madrid', now)).toBe('28 de diciembre');
    // 23:30 UTC on the 31st is already 1 January in Madrid
    expect(formatDayMonth(new Date('2026-12-31T23:30:00Z'), 'Europe/Madrid', now)).toBe('1 de enero de 2027');
  });

  it('adds the year when it is not this year', () => {
    expect(formatDayMonth(new Date('2027-03-05T12:00:00Z'), 'Europe/Madrid', now)).toBe('5 de marzo de 2027');
  });
});
