// The output guard: every request the bot makes to the Bot API is checked against the limits
// Telegram enforces, so no module can send something Telegram would reject (or something
// malformed reaching a user). Installed as a grammY API transformer.
import { type Issue, ValidationError } from '@diana/utils';
import { SECURITY_ERROR_CODES } from './errors.js';
import { normalizeText } from './text.js';

/** Telegram's limits the guard enforces. */
export const TELEGRAM_LIMITS = Object.freeze({
  message_text: 4_096,
  caption: 1_024,
  callback_data_bytes: 64,
  callback_answer_text: 200,
  buttons_per_row: 8,
  buttons_total: 100,
});

// Tags of Telegram's HTML parse mode, with the attributes each may carry.
const TAGS: Record<string, readonly string[]> = {
  b: [],
  strong: [],
  i: [],
  em: [],
  u: [],
  ins: [],
  s: [],
  strike: [],
  del: [],
  'tg-spoiler': [],
  span: ['class'],
  a: ['href'],
  'tg-emoji': ['emoji-id'],
  code: ['class'],
  pre: [],
  blockquote: ['expandable'],
};
const TAG = /^<(\/?)([a-z-]+)((?:\s+[a-z-]+(?:="[^"<>]*")?)*)\s*>/;
const ATTRIBUTE = /([a-z-]+)(?:="([^"]*)")?/g;
const ENTITY = /^&(?:amp|lt|gt|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});/;
const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"' };

/**
 * Checks HTML parse-mode markup the way Telegram parses it: known tags with known attributes,
 * properly nested, `<`, `>` and `&` only as markup or entities. Returns the visible text (entities
 * decoded), its length in UTF-16 code units (Telegram's unit, so never under-counted: `&#128512;`
 * is 2) and the problems.
 */
export function checkHtml(markup: string): { length: number; problems: string[]; text: string } {
  const problems: string[] = [];
  const open: string[] = [];
  let text = '';
  for (let i = 0; i < markup.length; ) {
    const c = markup[i];
    if (c === '<') {
      const tag = TAG.exec(markup.slice(i, i + 512));
      const name = tag?.[2] ?? '';
      const allowed = TAGS[name];
      if (!tag || !allowed) {
        problems.push(`unexpected '<' at ${i} (escape text with escapeHtml or html\`\`)`);
        i++;
        continue;
      }
      if (tag[1]) {
        if (open.pop() !== name) problems.push(`</${name}> at ${i} closes nothing open`);
      } else {
        for (const [, attribute] of (tag[3] ?? '').matchAll(ATTRIBUTE))
          if (!allowed.includes(attribute as string)) problems.push(`<${name}> has no attribute '${attribute}'`);
        open.push(name);
      }
      i += tag[0].length;
    } else if (c === '>') {
      problems.push(`unescaped '>' at ${i}`);
      i++;
    } else if (c === '&') {
      const entity = ENTITY.exec(markup.slice(i, i + 12));
      if (!entity) problems.push(`unescaped '&' at ${i}`);
      text += entity ? decodeEntity(entity[0]) : '&';
      i += entity ? entity[0].length : 1;
    } else {
      text += c;
      i++;
    }
  }
  for (const name of open) problems.push(`<${name}> is never closed`);
  return { length: text.length, problems, text };
}

/** The character an entity stands for (U+FFFD past U+10FFFF, one unit as Telegram shows it). */
function decodeEntity(entity: string): string {
  const name = entity.slice(1, -1);
  if (!name.startsWith('#')) return NAMED_ENTITIES[name] ?? '';
  const code = name[1] === 'x' ? Number.parseInt(name.slice(2), 16) : Number(name.slice(1));
  return code <= 0x10ffff ? String.fromCodePoint(code) : '\ufffd';
}

type Payload = Record<string, unknown>;

/** `path` names the text (`text`, `caption`, `media.0.caption`); its `parse_mode` is beside it. */
function checkText(issues: Issue[], path: string, text: unknown, max: number, parseMode: unknown, required: boolean) {
  if (text === undefined && !required) return;
  if (typeof text !== 'string') {
    issues.push({ path, message: 'must be a string' });
    return;
  }
  if (parseMode !== undefined && parseMode !== 'HTML')
    issues.push({
      path: path.replace(/[^.]+$/, 'parse_mode'),
      message: "must be 'HTML' or absent (the bot builds HTML with html``)",
    });
  const parsed = parseMode === 'HTML' ? checkHtml(text) : { length: text.length, problems: [], text };
  for (const problem of parsed.problems) issues.push({ path, message: problem });
  // what is seen, not the markup: Telegram refuses `<b> </b>` or only zero-width characters as empty
  if (required && normalizeText(parsed.text).trim().length === 0) issues.push({ path, message: 'must not be empty' });
  if (parsed.length > max) issues.push({ path, message: `must be at most ${max} characters (has ${parsed.length})` });
}

/** The captions of an album's items (`sendMediaGroup`) or of the one `editMessageMedia` sends. */
function checkMediaCaptions(issues: Issue[], media: unknown) {
  const items = Array.isArray(media) ? media : [media];
  items.forEach((item: unknown, n) => {
    if (item === null || typeof item !== 'object') return;
    const { caption, parse_mode: parseMode } = item as { caption?: unknown; parse_mode?: unknown };
    const path = Array.isArray(media) ? `media.${n}.caption` : 'media.caption';
    checkText(issues, path, caption, TELEGRAM_LIMITS.caption, parseMode, false);
  });
}

function checkKeyboard(issues: Issue[], markup: unknown) {
  if (markup === undefined || markup === null || typeof markup !== 'object') return;
  const rows =
    (markup as { inline_keyboard?: unknown; keyboard?: unknown }).inline_keyboard ??
    (markup as { keyboard?: unknown }).keyboard;
  if (rows === undefined) return;
  const inline = 'inline_keyboard' in markup;
  const base = inline ? 'reply_markup.inline_keyboard' : 'reply_markup.keyboard';
  if (!Array.isArray(rows)) {
    issues.push({ path: base, message: 'must be an array of rows' });
    return;
  }
  let total = 0;
  rows.forEach((row: unknown, r) => {
    if (!Array.isArray(row)) {
      issues.push({ path: `${base}.${r}`, message: 'must be an array of buttons' });
      return;
    }
    if (row.length > TELEGRAM_LIMITS.buttons_per_row)
      issues.push({ path: `${base}.${r}`, message: `must have at most ${TELEGRAM_LIMITS.buttons_per_row} buttons` });
    row.forEach((button: unknown, b) => {
      total++;
      const path = `${base}.${r}.${b}`;
      const { text, callback_data: data } = (typeof button === 'string' ? { text: button } : (button ?? {})) as {
        text?: unknown;
        callback_data?: unknown;
      };
      if (typeof text !== 'string' || text.trim().length === 0)
        issues.push({ path: `${path}.text`, message: 'must not be empty' });
      if (data !== undefined) {
        const bytes = typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : -1;
        if (bytes < 1 || bytes > TELEGRAM_LIMITS.callback_data_bytes)
          issues.push({
            path: `${path}.callback_data`,
            message: `must be 1–${TELEGRAM_LIMITS.callback_data_bytes} bytes (has ${bytes})`,
          });
      }
    });
  });
  if (total > TELEGRAM_LIMITS.buttons_total)
    issues.push({ path: base, message: `must have at most ${TELEGRAM_LIMITS.buttons_total} buttons (has ${total})` });
}

const TEXT_METHODS = new Set(['sendMessage', 'editMessageText']);
const CAPTION_METHODS = new Set([
  'sendPhoto',
  'sendVideo',
  'sendAnimation',
  'sendAudio',
  'sendDocument',
  'sendVoice',
  'editMessageCaption',
  'copyMessage',
]);

/** The problems of one Bot API request (empty when Telegram would accept it as far as we know). */
export function checkOutgoing(method: string, payload: Payload | undefined): Issue[] {
  const issues: Issue[] = [];
  const p = payload ?? {};
  if (TEXT_METHODS.has(method)) checkText(issues, 'text', p.text, TELEGRAM_LIMITS.message_text, p.parse_mode, true);
  if (CAPTION_METHODS.has(method))
    checkText(issues, 'caption', p.caption, TELEGRAM_LIMITS.caption, p.parse_mode, false);
  if (method === 'sendMediaGroup' || method === 'editMessageMedia') checkMediaCaptions(issues, p.media);
  if (method === 'answerCallbackQuery' && p.text !== undefined) {
    if (typeof p.text !== 'string' || p.text.length > TELEGRAM_LIMITS.callback_answer_text)
      issues.push({ path: 'text', message: `must be at most ${TELEGRAM_LIMITS.callback_answer_text} characters` });
  }
  checkKeyboard(issues, p.reply_markup);
  return issues;
}

/** Throws `E_SECURITY_OUTPUT_INVALID` (a `ValidationError` listing the issues) when `checkOutgoing` finds any. */
export function assertOutgoing(method: string, payload: Payload | undefined): void {
  const issues = checkOutgoing(method, payload);
  if (issues.length > 0)
    throw new ValidationError(SECURITY_ERROR_CODES.OUTPUT_INVALID, `refusing to send ${method}`, issues, {
      context: { method },
    });
}
