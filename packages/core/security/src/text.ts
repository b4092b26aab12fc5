// Text safety for Telegram's HTML parse mode: normalization, stripping of characters that
// hide or reorder text, escaping, and a tagged template that escapes every interpolation.

// C0 and C1 controls except tab and newline; bidi embeddings, overrides and isolates
// (U+202A–U+202E, U+2066–U+2069) that can make text read differently from what it is; the
// byte-order mark / zero-width no-break space; characters that show nothing and join or
// separate nothing in any script (zero-width space U+200B, word joiner and invisible operators
// U+2060–U+2064, Mongolian vowel separator U+180E). The joiners U+200C/U+200D (emoji sequences,
// Persian, Indic scripts) and the directional marks U+200E/U+200F/U+061C (right-to-left text)
// stay: text needs them. `shownName` in @diana/admin drops them too in names staff read.
const UNSAFE_CHARS =
  // biome-ignore lint/suspicious/noControlCharactersInRegex: matching control characters is the point
  /[\u0000-\u0008\u000B-\u001F\u007F-\u009F\u180E\u200B\u202A-\u202E\u2060-\u2064\u2066-\u2069\uFEFF]/g;

/** Unicode NFC, `\r\n` → `\n`, unsafe control and bidi-override characters removed. */
export function normalizeText(text: string): string {
  return text.normalize('NFC').replace(/\r\n?/g, '\n').replace(UNSAFE_CHARS, '');
}

// Line and paragraph breaks left by normalizeText (newline, tab, U+2028, U+2029), and the spaces
// around them: one space in one-line text, so a name cannot fake a line of its own.
const LINE_BREAKS = /\s*[\t\n\u2028\u2029]\s*/g;
// Characters that show nothing (Unicode's Default_Ignorable_Code_Point: soft hyphen, combining
// grapheme joiner, Hangul fillers, variation selectors, tags, …), matched with the emoji
// sequences that need some of them: a complete emoji tag sequence (the flags of England,
// Scotland, Wales) and a text/emoji variation selector right after an emoji (❤️).
const SHOWS_NOTHING =
  /\u{1F3F4}[\u{E0020}-\u{E007E}]+\u{E007F}|\p{Emoji}[\uFE0E\uFE0F]|\p{Default_Ignorable_Code_Point}/gu;
// What normalizeText keeps on purpose: the joiners and directional marks emoji and
// right-to-left text need.
const KEPT_IGNORABLES = new Set(['\u200C', '\u200D', '\u200E', '\u200F', '\u061C']);

/**
 * Text shown on one line (a name, a title): `normalizeText`, every line or paragraph break made
 * one space, characters that show nothing removed (except joiners, directional marks and the
 * parts of an emoji), trimmed.
 */
export function oneLine(text: string): string {
  return normalizeText(text)
    .replace(LINE_BREAKS, ' ')
    .replace(SHOWS_NOTHING, (found) => ([...found].length > 1 || KEPT_IGNORABLES.has(found) ? found : ''))
    .normalize('NFC')
    .trim();
}

/**
 * `text` cut to at most `max` UTF-16 units (Telegram's unit for lengths), never between the two
 * halves of a surrogate pair: `slice` can cut an emoji in half, and the lone half is not UTF-8
 * (Telegram refuses the text; PostgreSQL stores U+FFFD).
 */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  const cut = text.slice(0, max);
  // a high surrogate last means its pair was cut off: drop it too
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };

/** Escapes `& < > "` — all Telegram's HTML mode needs for text and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"]/g, (c) => ESCAPES[c] as string);
}

const RAW = Symbol('diana.rawHtml');
/** Markup inserted by `html` as it is (produced by `html` itself or `rawHtml`). */
export interface RawHtml {
  readonly [RAW]: string;
}

/** Marks trusted markup (e.g. the result of another `html`) so `html` does not escape it. */
export function rawHtml(markup: string): RawHtml {
  return Object.freeze({ [RAW]: markup });
}

function interpolate(value: unknown): string {
  if (value === null || value === undefined || value === false) return '';
  if (typeof value === 'object' && RAW in value) return (value as RawHtml)[RAW];
  if (Array.isArray(value)) return value.map(interpolate).join('');
  return escapeHtml(normalizeText(String(value)));
}

/**
 * A tagged template for HTML parse mode: every interpolated value is normalized and escaped
 * (arrays joined, `null`/`undefined`/`false` empty), except `rawHtml(...)` values.
 * `html`<b>${name}</b>`` can never contain a tag other than the template's.
 */
export function html(strings: TemplateStringsArray, ...values: readonly unknown[]): string {
  let out = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) out += interpolate(values[i]) + (strings[i + 1] ?? '');
  return out;
}
