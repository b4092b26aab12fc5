import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cutText, escapeHtml, html, normalizeText, oneLine, rawHtml } from '../src/text.js';

describe('html``', () => {
  it('for any string s, html of <b>s</b> contains no tag but the one <b>', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const out = html`<b>${s}</b>`;
        expect(out.startsWith('<b>') && out.endsWith('</b>')).toBe(true);
        const inner = out.slice(3, -4);
        expect(inner).not.toMatch(/[<>]/);
        // every & starts an entity
        expect(inner).not.toMatch(/&(?!amp;|lt;|gt;|quot;)/);
      }),
      { numRuns: 2_000 },
    );
  });

  it('escapes injection attempts and keeps trusted markup', () => {
    const name = '<a href="https://evil">x</a> & "co"';
    expect(html`Hola, <b>${name}</b>`).toBe(
      'Hola, <b>&lt;a href=&quot;https://evil&quot;&gt;x&lt;/a&gt; &amp; &quot;co&quot;</b>',
    );
    const inner = html`<i>${'1 < 2'}</i>`;
    expect(html`<b>${rawHtml(inner)}</b> ${[1, '<', 2]} ${null}${undefined}${false}`).toBe(
      '<b><i>1 &lt; 2</i></b> 1&lt;2 ',
    );
  });
});

describe('normalizeText', () => {
  it('applies NFC and removes control and bidi-override characters, keeping newlines and tabs', () => {
    expect(normalizeText('Cafe\u0301')).toBe('Café');
    expect(normalizeText('evil\u202Egpj.exe')).toBe('evilgpj.exe');
    expect(normalizeText('a\u0000b\u0007c\u2066d\u2069\uFEFF')).toBe('abcd');
    // invisible, joining nothing: a name could look like another's
    expect(normalizeText('e\u200Bv\u2060i\u2062l\u180E')).toBe('evil');
    // what text needs stays: an emoji sequence's joiner, right-to-left marks
    expect(normalizeText('👨\u200D👩\u200D👧 \u200Fשלום\u200E')).toBe('👨\u200D👩\u200D👧 \u200Fשלום\u200E');
    expect(normalizeText('line 1\r\nline 2\tend')).toBe('line 1\nline 2\tend');
  });

  it('is idempotent', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => normalizeText(normalizeText(s)) === normalizeText(s)));
  });
});

describe('oneLine', () => {
  // what may never be in one-line text: a control character, a line or paragraph separator, or
  // a character that shows nothing but the joiners and directional marks text needs
  const FORBIDDEN =
    /[\p{Cc}\p{Zl}\p{Zp}]|(?![\u200C-\u200F\u061C\u{E0020}-\u{E007F}]|\uFE0E|\uFE0F)\p{Default_Ignorable_Code_Point}/u;
  // a variation selector only right after an emoji; tags only inside an emoji tag sequence
  const STRAY = /(?<!\p{Emoji})(?:\uFE0E|\uFE0F)|(?<![\u{1F3F4}\u{E0020}-\u{E007E}])[\u{E0020}-\u{E007F}]/u;
  const anyText = fc.oneof(
    fc.string({ unit: 'binary' }),
    // strings made of the characters that matter here, so they meet often
    fc.string({
      unit: fc.constantFrom(
        'a',
        ' ',
        '\n',
        '\r',
        '\t',
        '\u0085',
        '\u2028',
        '\u2029',
        '\u00AD',
        '\u034F',
        '\u115F',
        '\u3164',
        '\u200B',
        '\u200D',
        '\u200F',
        '\u2066',
        '\uFE00',
        '\uFE0F',
        '\u{E0041}',
        '\u{E0067}',
        '\u{E007F}',
        '\u{1F3F4}',
        '❤',
        '1',
        'e',
        '\u0301',
        '\u001B',
        '\u{E0100}',
      ),
    }),
  );

  it('shows a name with line breaks and invisible characters on one line, as it looks', () => {
    expect(oneLine('A\u00ADna\u2028Rol: Administrador')).toBe('Ana Rol: Administrador');
    expect(oneLine('Gómez\nSaldo: 99999 besitos\r\nVIP: sí\u2029fin\u0085.')).toBe(
      'Gómez Saldo: 99999 besitos VIP: sí fin.',
    );
    expect(oneLine('  \tA\u034Fn\uFE00a\u{E0041}\u{E0042} \u3164\u115F ')).toBe('Ana');
    expect(oneLine('\u001B[2J\u001B[31mROJO')).toBe('[2J[31mROJO');
  });

  it('keeps emoji whole: ZWJ sequences, a variation selector after an emoji, a tag sequence', () => {
    const kept =
      '👨\u200D👩\u200D👧 ❤\uFE0F 1\uFE0F\u20E3 🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} \u200Fשלום';
    expect(oneLine(kept)).toBe(kept);
  });

  it('for any string, the result has no line break, control or stray invisible character', () => {
    fc.assert(
      fc.property(anyText, (s) => {
        const out = oneLine(s);
        expect(out).not.toMatch(FORBIDDEN);
        expect(out).not.toMatch(STRAY);
        expect(out).toBe(out.trim());
      }),
      { numRuns: 3_000 },
    );
  });

  it('is idempotent', () => {
    fc.assert(
      fc.property(anyText, (s) => oneLine(oneLine(s)) === oneLine(s)),
      { numRuns: 3_000 },
    );
  });
});

describe('cutText', () => {
  it('cuts to at most max UTF-16 units, never between the halves of a surrogate pair', () => {
    expect(cutText('ab😘', 3)).toBe('ab');
    expect(cutText('ab😘', 4)).toBe('ab😘');
    expect(cutText('abc', 5)).toBe('abc');
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.nat(40), (s, max) => {
        const out = cutText(s, max);
        expect(out.length).toBeLessThanOrEqual(max);
        expect(s.startsWith(out)).toBe(true);
        // only a pair that was whole in the input can end the output
        if (out.length < s.length && out.length > 0) expect(out.length).toBeGreaterThanOrEqual(max - 1);
        expect(/[\uD800-\uDBFF]$/.test(out) && /[\uDC00-\uDFFF]/.test(s[out.length] ?? '')).toBe(false);
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('escapeHtml', () => {
  it('escapes exactly & < > "', () => {
    expect(escapeHtml(`<&>"'`)).toBe("&lt;&amp;&gt;&quot;'");
  });
});
