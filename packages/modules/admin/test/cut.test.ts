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
});
