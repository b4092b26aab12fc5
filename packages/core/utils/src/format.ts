/** Default locale of user-facing text (the bot speaks Spanish in production). */
export const DEFAULT_LOCALE = 'es';

/** An amount of besitos for people: `1 besito`, `250 besitos`, `12.500 besitos`. */
export function formatBesitos(amount: number, locale: string = DEFAULT_LOCALE): string {
  const n = amount + 0; // -0 is 0 (Intl would write "-0")
  const known = locale === DEFAULT_LOCALE ? BESITOS.get(n) : undefined;
  if (known !== undefined) return known;
  const number = numberFormat(locale, 'besitos', { maximumFractionDigits: 0 }).format(n);
  const text = `${number} ${Math.abs(n) === 1 ? 'besito' : 'besitos'}`;
  if (locale === DEFAULT_LOCALE) {
    if (BESITOS.size >= BESITOS_KEPT) BESITOS.clear();
    BESITOS.set(n, text);
  }
  return text;
}

// Formatting with Intl costs microseconds a call (the bot formats each payment's amount for its
// notice: 1.5% of its CPU profile at 100 updates/s); the amounts repeat (rewards, prices,
// balances). The default locale's last few thousand are kept, dropped all at once when full.
const BESITOS = new Map<number, string>();
const BESITOS_KEPT = 4096;

const UNITS: ReadonlyArray<readonly [Intl.NumberFormatOptions['unit'] & string, number]> = [
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
  ['second', 1_000],
];

/**
 * A duration for people, in words, with its largest unit and the next one down: `2 horas y 5 minutos`,
 * `45 segundos`, `1 día` (`1 minute and 30 seconds` in `en`). It reads as chat text: "listo en
 * 1 día", not "en 1 d". Below one second it says `0 segundos`; negative durations are zero.
 */
export function formatDuration(ms: number, locale: string = DEFAULT_LOCALE): string {
  const rest = Math.max(0, Math.floor(ms / 1000) * 1000);
  const say = (unit: string, count: number) =>
    numberFormat(locale, unit, { style: 'unit', unit, unitDisplay: 'long' }).format(count);
  // the largest unit that counts, then the next one down unless it is zero (1 d 0 h 59 s is
  // "1 día": seconds beside a day say nothing)
  const first = UNITS.findIndex(([, size]) => rest >= size);
  const [unit, size] = UNITS[first === -1 ? UNITS.length - 1 : first] as (typeof UNITS)[number];
  const count = Math.floor(rest / size);
  const next = first === -1 ? undefined : UNITS[first + 1];
  const remainder = rest - count * size;
  if (!next || remainder < next[1]) return say(unit, count);
  return listFormat(locale).format([say(unit, count), say(next[0], Math.floor(remainder / next[1]))]);
}

const LISTS = new Map<string, Intl.ListFormat>();
function listFormat(locale: string): Intl.ListFormat {
  let list = LISTS.get(locale);
  if (!list) {
    list = new Intl.ListFormat(locale, { type: 'conjunction', style: 'long' });
    LISTS.set(locale, list);
  }
  return list;
}

// Building an Intl.NumberFormat costs far more than formatting with one (a locale lookup per
// construction): one formatter per locale and use, kept for the process's life (a handful).
const FORMATS = new Map<string, Intl.NumberFormat>();
function numberFormat(locale: string, use: string, options: Intl.NumberFormatOptions): Intl.NumberFormat {
  const key = `${locale}\u0000${use}`;
  let format = FORMATS.get(key);
  if (!format) {
    format = new Intl.NumberFormat(locale, options);
    FORMATS.set(key, format);
  }
  return format;
}
