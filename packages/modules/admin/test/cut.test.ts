// cutText: a short echo or preview never ends in half an emoji (Telegram refuses a lone surrogate).
import { describe, expect, it } from 'vitest';
import { cutText } from '../src/cut.js';

describe('cutText', () => {
  it('keeps a text within the limit whole', () => {
    expect(cutText('hola', 4)).toBe('hola');
    expect(cutText('😀😀', 4)).toBe('😀😀');
  });

  it('cuts at the limit, in UTF-16 units, never inside a surrogate pair', () => {
    expect(cutText('holamundo', 4)).toBe('hola');
    expect(cutText('😀😀😀', 4)).toBe('😀😀');
    // before (slice): 'a😀' and half of the second emoji
    expect(cutText('a😀😀', 4)).toBe('a😀');
    expect(cutText(`x${'😀'.repeat(30)}`, 40)).toBe(`x${'😀'.repeat(19)}`);
  });

  it('echoes no control character nor bidi override (normalizeText), then cuts', () => {
    // before: the ESC bytes were echoed to the staff member's chat (the console chat was cleared)
    expect(cutText('\u001B[2J\u001B[31mvip\u202E', 40)).toBe('[2J[31mvip');
    expect(cutText(`\u0007${'a'.repeat(50)}`, 40)).toBe('a'.repeat(40));
  });
});
