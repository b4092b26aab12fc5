// Times as staff type them (/programar): only one that exists, read back as typed.
import { describe, expect, it } from 'vitest';
import { parseLocalTime } from '../src/time.js';

describe('parseLocalTime', () => {
  it('reads a wall-clock time in the zone', () => {
    expect(parseLocalTime('2031-01-15 23:59', 'Europe/Madrid')?.toISOString()).toBe('2031-01-15T22:59:00.000Z');
    expect(parseLocalTime('2031-07-15T00:00', 'Europe/Madrid')?.toISOString()).toBe('2031-07-14T22:00:00.000Z');
    expect(parseLocalTime('2032-02-29 10:00', 'UTC')?.toISOString()).toBe('2032-02-29T10:00:00.000Z');
  });

  it('refuses a time that does not exist instead of rolling it over', () => {
    // before: 99:99 became 2031-01-19 04:39, 24:00 the next day's 00:00, 0031 the year 1931
    for (const text of [
      '2031-01-15 99:99',
      '2031-01-15 24:00',
      '2031-01-15 12:60',
      '2031-02-30 10:00',
      '2031-02-29 10:00',
      '2031-13-01 10:00',
      '2031-00-10 10:00',
      '2031-01-00 10:00',
      '2031-01-32 10:00',
      '0031-01-15 10:00',
    ])
      expect(parseLocalTime(text, 'Europe/Madrid'), text).toBeUndefined();
  });

  it('refuses a time a clock change skips; an hour that happens twice is its later instant', () => {
    // before: 02:30 on Madrid's spring night was moved to 03:30 (and New York's to 01:30)
    for (const [text, zone] of [
      ['2027-03-28 02:30', 'Europe/Madrid'],
      ['2027-03-28 02:00', 'Europe/Madrid'],
      ['2027-03-14 02:30', 'America/New_York'],
      ['2027-10-03 02:15', 'Australia/Lord_Howe'], // a half-hour change
    ] as const)
      expect(parseLocalTime(text, zone), `${text} ${zone}`).toBeUndefined();
    // the edges of the gap exist
    expect(parseLocalTime('2027-03-28 01:59', 'Europe/Madrid')?.toISOString()).toBe('2027-03-28T00:59:00.000Z');
    expect(parseLocalTime('2027-03-28 03:00', 'Europe/Madrid')?.toISOString()).toBe('2027-03-28T01:00:00.000Z');
    // autumn: 02:30 comes twice (summer time, then standard time): the second one, as before
    expect(parseLocalTime('2027-10-31 02:30', 'Europe/Madrid')?.toISOString()).toBe('2027-10-31T01:30:00.000Z');
    expect(parseLocalTime('2027-10-31 01:59', 'Europe/Madrid')?.toISOString()).toBe('2027-10-30T23:59:00.000Z');
    expect(parseLocalTime('2027-10-31 03:00', 'Europe/Madrid')?.toISOString()).toBe('2027-10-31T02:00:00.000Z');
    expect(parseLocalTime('2027-11-07 01:30', 'America/New_York')?.toISOString()).toBe('2027-11-07T06:30:00.000Z');
  });
});
