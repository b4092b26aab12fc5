/**
 * 'YYYY-MM-DD HH:MM' read as wall-clock time in `timezone` → the instant, or undefined for a time
 * that does not exist (out of range, or skipped by a clock change). A time that happens twice is
 * its later instant.
 */
export function parseLocalTime(text: string, timezone: string): Date | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2})$/.exec(text.trim());
  if (!match) return undefined;
  const [, y, mo, d, h, mi] = match.map(Number) as [number, number, number, number, number, number];
  const wall = Date.UTC(y, mo - 1, d, h, mi);
  // Date.UTC rolls over what is out of range (24:00 the next day, 99:99 four days on, 02-30 in
  // March) and reads years 0–99 as 1900–1999: only a time that reads back as typed is one
  const back = new Date(wall);
  if (
    back.getUTCFullYear() !== y ||
    back.getUTCMonth() !== mo - 1 ||
    back.getUTCDate() !== d ||
    back.getUTCHours() !== h ||
    back.getUTCMinutes() !== mi
  )
    return undefined;
  // the instants the zone's offsets around it (a day before, at, a day after) give; only one that
  // reads back as typed is that wall-clock time. None: it falls in a clock change's gap (02:30 on
  // Madrid's spring night: it was moved to 03:30). Two: the hour happens twice (autumn), and the
  // later one (standard time) is taken, as the parse always did in Europe/Madrid
  const instants = [wall - DAY_MS, wall, wall + DAY_MS]
    .map((probe) => wall - offsetAt(probe, timezone))
    .filter((instant) => instant + offsetAt(instant, timezone) === wall);
  return instants.length === 0 ? undefined : new Date(Math.max(...instants));
}

const DAY_MS = 86_400_000;

function offsetAt(instant: number, timezone: string): number {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
  }).formatToParts(new Date(instant));
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value);
  const asUtc = Date.UTC(get('year'), get('month') - 1, get('day'), get('hour'), get('minute'), get('second'));
  return asUtc - Math.floor(instant / 1000) * 1000;
}

/** The instant as 'YYYY-MM-DD HH:MM' in `timezone`. */
export function formatLocalTime(date: Date, timezone: string): string {
  return new Intl.DateTimeFormat('sv-SE', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).format(date);
}

/** The calendar day of `date` in `timezone` as `YYYY-MM-DD` (to compare days). */
function localDay(date: Date, timezone: string): string {
  return formatLocalTime(date, timezone).slice(0, 10);
}

/** The day as Spanish readers say it: "28 de diciembre" (with " de 2027" when not this year). */
export function formatHumanDate(date: Date, timezone: string, now: Date): string {
  const sameYear = localDay(date, timezone).slice(0, 4) === localDay(now, timezone).slice(0, 4);
  return new Intl.DateTimeFormat('es-ES', {
    timeZone: timezone,
    day: 'numeric',
    month: 'long',
    ...(sameYear ? {} : { year: 'numeric' }),
  }).format(date);
}

/** A moment as Spanish readers say it: "hoy a las 10:05", "ayer a las 22:40", "el 28 de diciembre a las 9:00". */
export function formatHumanMoment(date: Date, timezone: string, now: Date): string {
  const time = formatLocalTime(date, timezone)
    .slice(11)
    .replace(/^0(\d)/, '$1');
  const at = `${time.startsWith('1:') ? 'a la' : 'a las'} ${time}`; // "a la 1:05", "a las 13:05"
  // days on the calendar, not 24-hour steps: a day of a clock change lasts 23 or 25 hours
  const days = localDaysBetween(now, date, timezone);
  if (days === 0) return `hoy ${at}`;
  if (days === -1) return `ayer ${at}`;
  if (days === 1) return `mañana ${at}`;
  return `el ${formatHumanDate(date, timezone, now)} ${at}`;
}

/**
 * How many calendar days `to` is after `from` in `timezone` (0: the same local day, 1: the next,
 * -1: the one before), whatever the hours between them.
 */
export function localDaysBetween(from: Date, to: Date, timezone: string): number {
  return (localDayStart(to, timezone) - localDayStart(from, timezone)) / DAY_MS;
}

/** The local calendar day of `date` in `timezone`, as the UTC midnight of that date (to count days). */
function localDayStart(date: Date, timezone: string): number {
  const [y, m, d] = localDay(date, timezone).split('-').map(Number) as [number, number, number];
  return Date.UTC(y, m - 1, d);
}
