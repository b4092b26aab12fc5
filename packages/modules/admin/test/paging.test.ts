// splitMessage: every piece fits one Telegram message, cut at line ends, never in a tag or entity.
import { checkHtml } from '@diana/security';
import { describe, expect, it } from 'vitest';
import { MESSAGE_LIMIT, splitMessage } from '../src/paging.js';

describe('splitMessage', () => {
  it('keeps a short text whole', () => {
    expect(splitMessage('hola\nmundo')).toEqual(['hola\nmundo']);
  });

  it('cuts a long listing at line ends: every piece ≤ 4096, nothing lost', () => {
    const lines = Array.from({ length: 100 }, (_, i) => `${String(i).padStart(3, '0')} ${'x'.repeat(96)}`);
    const pieces = splitMessage(lines.join('\n'));
    expect(pieces.length).toBe(3);
    for (const piece of pieces) expect(piece.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
    expect(pieces.join('\n')).toBe(lines.join('\n')); // each cut fell on a line end
  });

  it('cuts a single line longer than the limit between characters, never inside a surrogate pair', () => {
    const line = '😀'.repeat(3_000); // 6 000 UTF-16 code units
    const pieces = splitMessage(line);
    expect(pieces.length).toBe(2);
    for (const piece of pieces) {
      expect(piece.length).toBeLessThanOrEqual(MESSAGE_LIMIT);
      expect(piece).toMatch(/^(?:😀)+$/u);
    }
    expect(pieces.join('')).toBe(line);
  });

  it('HTML: measured after entities, tags closed and reopened at a cut, no entity or tag cut', () => {
    // 1 500 lines of "a &amp; <i>b</i>" = 7 visible characters + newline each, about 12 000 visible
    const markup = `<b>${Array.from({ length: 1_500 }, () => 'a &amp; <i>b</i>').join('\n')}</b>\n<a href="https://t.me/x">fin &lt;3</a>`;
    const pieces = splitMessage(markup, { html: true });
    expect(pieces.length).toBeGreaterThan(1);
    for (const piece of pieces) {
      const { length, problems } = checkHtml(piece);
      expect(problems).toEqual([]);
      expect(length).toBeLessThanOrEqual(MESSAGE_LIMIT);
      expect(piece.startsWith('<b>')).toBe(true);
    }
    expect(pieces[0]?.length).toBeGreaterThan(MESSAGE_LIMIT); // the raw markup is longer: entities count as one
    expect(pieces.at(-1)).toContain('<a href="https://t.me/x">fin &lt;3</a>');
    // one long line of entities: cut between entities, never inside one
    const entities = '&amp;'.repeat(5_000);
    for (const piece of splitMessage(entities, { html: true })) {
      expect(checkHtml(piece).problems).toEqual([]);
      expect(checkHtml(piece).length).toBeLessThanOrEqual(MESSAGE_LIMIT);
    }
    expect(splitMessage(entities, { html: true }).join('')).toBe(entities);
  });

  it('HTML: a numeric entity past U+FFFF counts as the two units Telegram counts (an emoji)', () => {
    // before: 3 000 × "&#128512;" measured 3 000 units and went as one message of 6 000
    for (const entity of ['&#128512;', '&#x1F600;']) {
      const text = entity.repeat(3_000);
      const pieces = splitMessage(text, { html: true });
      expect(pieces.length, entity).toBe(2);
      for (const piece of pieces) expect(checkHtml(piece).length, entity).toBeLessThanOrEqual(MESSAGE_LIMIT);
      expect(pieces.join('')).toBe(text);
    }
    // one below U+10000 is still one unit
    expect(splitMessage('&#233;'.repeat(4_000), { html: true })).toHaveLength(1);
  });
});
