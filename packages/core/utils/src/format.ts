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
 * A duration for people, with its two largest units: `2 h 5 min`, `45 s`, `3 d 4 h`.
 * Below one second it says `0 s`; negative durations are treated as zero.
 */
export function formatDuration(ms: number, locale: string = DEFAULT_LOCALE): string {
  let rest = Math.max(0, Math.floor(ms / 1000) * 1000);
  const parts: string[] = [];
  for (const [unit, size] of UNITS) {
    const count = Math.floor(rest / size);
    if (count > 0 || (parts.length === 0 && unit === 'second')) {
      parts.push(numberFormat(locale, unit, { style: 'unit', unit, unitDisplay: 'short' }).format(count));
      rest -= count * size;
    }
    if (parts.length === 2) break;
  }
  return parts.join(' ');
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
