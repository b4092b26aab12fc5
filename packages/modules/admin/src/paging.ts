// Staff replies can outgrow one Telegram message (a long /config, a DLQ listing): they go as
// several messages, cut at line ends where possible, never inside a tag or an entity.

import { TELEGRAM_LIMITS } from '@diana/security';

/** Telegram's limit for a message's text (4 096), counted after HTML tags and entities are parsed. */
export const MESSAGE_LIMIT = TELEGRAM_LIMITS.message_text;

interface Token {
  readonly raw: string;
  /** UTF-16 code units it shows as (Telegram's unit): 0 for a tag, 1 or 2 for an entity. */
  readonly visible: number;
  readonly open?: string;
  readonly close?: string;
}

const TAG = /^<(\/?)([a-z][a-z-]*)(?:\s[^<>]*)?>/;
const ENTITY = /^&(?:amp|lt|gt|quot|#\d{1,7}|#x[0-9a-fA-F]{1,6});/;

function tokenize(text: string, html: boolean): Token[] {
  const tokens: Token[] = [];
  for (let i = 0; i < text.length; ) {
    const rest = html && (text[i] === '<' || text[i] === '&') ? text.slice(i, i + 512) : '';
    const tag = rest.startsWith('<') ? TAG.exec(rest) : null;
    const entity = rest.startsWith('&') ? ENTITY.exec(rest) : null;
    if (tag) {
      const name = tag[2] as string;
      tokens.push(tag[1] ? { raw: tag[0], visible: 0, close: name } : { raw: tag[0], visible: 0, open: name });
    } else if (entity) {
      tokens.push({ raw: entity[0], visible: entityLength(entity[0]) });
    } else {
      // a surrogate pair stays whole
      const code = text.codePointAt(i) ?? 0;
      const raw = String.fromCodePoint(code);
      tokens.push({ raw, visible: raw.length });
    }
    i += tokens[tokens.length - 1]?.raw.length ?? 1;
  }
  return tokens;
}

/**
 * Splits `text` into messages of at most `max` visible characters each: at the last line end
 * that fits, or — for a single line longer than `max` — between two characters. With `html`,
 * tags and entities are never cut: tags open at a cut are closed at the end of one message
 * and opened again at the start of the next. Empty pieces are dropped.
 */
export function splitMessage(text: string, options: { html?: boolean; max?: number } = {}): string[] {
  const max = options.max ?? MESSAGE_LIMIT;
  const tokens = tokenize(text, options.html ?? false);
  const messages: string[] = [];
  let open: Token[] = []; // opening tags in force where the next message starts
  for (let start = 0; start < tokens.length; ) {
    let end = start;
    let visible = 0;
    let lastLineEnd = -1;
    while (end < tokens.length && visible + (tokens[end] as Token).visible <= max) {
      if ((tokens[end] as Token).raw === '\n') lastLineEnd = end;
      visible += (tokens[end] as Token).visible;
      end++;
    }
    if (end === start) end = start + 1; // cannot happen with max ≥ 2; never loop forever
    if (end < tokens.length && lastLineEnd > start) end = lastLineEnd + 1;
    const piece = tokens.slice(start, end);
    const stack = [...open];
    for (const token of piece) {
      if (token.open) stack.push(token);
      else if (token.close) {
        const at = stack.map((t) => t.open).lastIndexOf(token.close);
        if (at >= 0) stack.splice(at, 1);
      }
    }
    const body = [...open, ...piece].map((t) => t.raw).join('');
    const closing = [...stack]
      .reverse()
      .map((t) => `</${t.open}>`)
      .join('');
    const visibleText = piece
      .filter((t) => t.visible > 0)
      .map((t) => t.raw)
      .join('');
    if (visibleText.trim().length > 0) messages.push(`${body.replace(/\n+$/, '')}${closing}`);
    open = stack;
    start = end;
  }
  return messages;
}

/** The UTF-16 units an entity shows as: 2 for a numeric one past U+FFFF (`&#128512;`, an emoji). */
function entityLength(entity: string): number {
  const numeric = /^&#(x?)([0-9a-fA-F]+);$/.exec(entity);
  if (!numeric) return 1;
  const code = Number.parseInt(numeric[2] as string, numeric[1] ? 16 : 10);
  return code > 0xffff && code <= 0x10ffff ? 2 : 1;
}
