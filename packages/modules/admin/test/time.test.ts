// Times as staff type them (/programar): only one that exists, read back as typed; moments as
// staff read them (/usuario, /token, /auditoria): today, yesterday, tomorrow on the calendar.
import { describe, expect, it } from 'vitest';
import { formatHumanMoment, parseLocalTime } from '../src/time.js';

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

describe('formatHumanMoment', () => {
  const madrid = (text: string) => parseLocalTime(text, 'Europe/Madrid') as Date;
  const said = (moment: string, now: string) => formatHumanMoment(madrid(moment), 'Europe/Madrid', madrid(now));

  it('names today, yesterday and tomorrow, and dates any other day', () => {
    expect(said('2027-01-17 10:05', '2027-01-17 08:00')).toBe('hoy a las 10:05');
    expect(said('2027-01-16 22:40', '2027-01-17 00:10')).toBe('ayer a las 22:40');
    expect(said('2027-01-18 01:05', '2027-01-17 23:50')).toBe('mañana a la 1:05');
    expect(said('2027-01-15 23:59', '2027-01-17 00:00')).toBe('el 15 de enero a las 23:59');
    expect(said('2027-01-19 00:00', '2027-01-17 23:59')).toBe('el 19 de enero a las 0:00');
    expect(said('2028-01-02 09:00', '2027-12-31 09:00')).toBe('el 2 de enero de 2028 a las 9:00');
  });

  it('counts days on the calendar across a clock change, not in 24-hour steps', () => {
    // before: yesterday and tomorrow were now ± 24 h, whose local day is not the next one when
    // the night between has 23 or 25 hours
    expect(said('2027-03-28 23:00', '2027-03-29 00:30')).toBe('ayer a las 23:00'); // was "el 28 de marzo"
    expect(said('2027-10-30 23:50', '2027-10-31 23:30')).toBe('ayer a las 23:50'); // was "el 30 de octubre"
    expect(said('2027-11-01 00:10', '2027-10-31 00:30')).toBe('mañana a las 0:10'); // was "el 1 de noviembre"
    expect(said('2027-03-27 00:10', '2027-03-28 23:30')).toBe('ayer a las 0:10');
    expect(said('2027-03-29 00:10', '2027-03-28 00:30')).toBe('mañana a las 0:10');
    expect(said('2027-03-26 23:30', '2027-03-28 00:30')).toBe('el 26 de marzo a las 23:30');
    expect(said('2027-11-02 00:10', '2027-10-31 23:30')).toBe('el 2 de noviembre a las 0:10');
    // and in a zone whose clock change is at midnight (Santiago skips 2027-09-05 00:00–00:59)
    const santiago = (moment: string, now: string) =>
      formatHumanMoment(
        parseLocalTime(moment, 'America/Santiago') as Date,
        'America/Santiago',
        parseLocalTime(now, 'America/Santiago') as Date,
      );
    expect(santiago('2027-09-05 23:00', '2027-09-06 00:30')).toBe('ayer a las 23:00'); // was "el 5 de septiembre"
    expect(santiago('2027-09-05 23:50', '2027-09-04 23:30')).toBe('mañana a las 23:50'); // was "el 5 de septiembre"
  });
});
