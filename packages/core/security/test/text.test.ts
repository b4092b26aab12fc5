import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeHtml, html, normalizeText, rawHtml } from '../src/text.js';

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

describe('escapeHtml', () => {
  it('escapes exactly & < > "', () => {
    expect(escapeHtml(`<&>"'`)).toBe("&lt;&amp;&gt;&quot;'");
  });
});
