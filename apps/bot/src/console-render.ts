// Telegram HTML (the tags Telegram's parse_mode HTML knows) as a terminal shows it: bold,
// italic, underline and strikethrough as ANSI styles on a TTY (nothing elsewhere), links as
// "text (url)", entities decoded. Text outside HTML parse mode is never touched, so a usage
// hint such as "/besitos <id> <cantidad>" keeps its placeholders.

const STYLES: Record<string, [string, string]> = {
  b: ['\x1b[1m', '\x1b[22m'],
  strong: ['\x1b[1m', '\x1b[22m'],
  i: ['\x1b[3m', '\x1b[23m'],
  em: ['\x1b[3m', '\x1b[23m'],
  u: ['\x1b[4m', '\x1b[24m'],
  ins: ['\x1b[4m', '\x1b[24m'],
  s: ['\x1b[9m', '\x1b[29m'],
  strike: ['\x1b[9m', '\x1b[29m'],
  del: ['\x1b[9m', '\x1b[29m'],
};

const ENTITIES: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"' };

/** Renders `html` (Telegram's subset) for a terminal; `ansi` adds styles. */
export function renderTelegramHtml(html: string, options: { ansi: boolean }): string {
  const links: string[] = [];
  const out = html.replace(/<(\/?)([a-z-]+)((?:\s[^>]*)?)>/gi, (_tag, closing: string, name: string, attrs: string) => {
    const tag = name.toLowerCase();
    const style = STYLES[tag];
    if (style) return options.ansi ? style[closing ? 1 : 0] : '';
    if (tag === 'a') {
      if (!closing) {
        links.push(/href\s*=\s*"([^"]*)"/i.exec(attrs)?.[1] ?? '');
        return '';
      }
      const href = links.pop();
      return href ? ` (${decode(href)})` : '';
    }
    if (tag === 'blockquote') return closing ? '' : '│ ';
    return ''; // code, pre, tg-spoiler, span, tg-emoji: the text alone
  });
  return decode(out);
}

function decode(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (entity, body: string) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X' ? Number.parseInt(body.slice(2), 16) : Number(body.slice(1));
      return Number.isSafeInteger(code) && code >= 0 && code <= 0x10ffff ? String.fromCodePoint(code) : entity;
    }
    return ENTITIES[body.toLowerCase()] ?? entity;
  });
}
