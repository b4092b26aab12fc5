import { isDianaError } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { assertOutgoing, checkHtml, checkOutgoing } from '../src/output.js';
import { html } from '../src/text.js';
import { TelegramInput, validateInput, validateOutput } from '../src/validation.js';

const paths = (method: string, payload: Record<string, unknown>) => checkOutgoing(method, payload).map((i) => i.path);

describe('the output guard', () => {
  it('rejects a 5 000-character message and a 65-byte callback, with E_SECURITY_OUTPUT_INVALID', () => {
    let error: unknown;
    try {
      assertOutgoing('sendMessage', { chat_id: 1, text: 'x'.repeat(5_000) });
    } catch (e) {
      error = e;
    }
    expect(isDianaError(error, 'E_SECURITY_OUTPUT_INVALID')).toBe(true);
    expect(paths('sendMessage', { chat_id: 1, text: 'x'.repeat(4_096) })).toEqual([]);
    expect(
      paths('sendMessage', {
        chat_id: 1,
        text: 'ok',
        reply_markup: { inline_keyboard: [[{ text: 'Go', callback_data: 'y'.repeat(65) }]] },
      }),
    ).toEqual(['reply_markup.inline_keyboard.0.0.callback_data']);
  });

  it('counts the visible text of HTML, and refuses markup Telegram cannot parse', () => {
    const long = html`<b>${'<'.repeat(4_000)}</b>`; // 16 000 characters of markup, 4 000 visible
    expect(paths('sendMessage', { chat_id: 1, text: long, parse_mode: 'HTML' })).toEqual([]);
    expect(checkHtml('<b>bold <i>both</i></b> &amp; <a href="https://t.me/x">link</a>').problems).toEqual([]);
    expect(checkHtml('<b>open').problems).toEqual(['<b> is never closed']);
    expect(checkHtml('<b><i>x</b></i>').problems.length).toBeGreaterThan(0);
    expect(checkHtml('1 < 2').problems.length).toBe(1);
    expect(checkHtml('fish & chips').problems).toEqual(["unescaped '&' at 5"]);
    expect(checkHtml('<script>x</script>').problems.length).toBeGreaterThan(0);
    expect(checkHtml('<a onclick="x">y</a>').problems).toEqual(["<a> has no attribute 'onclick'"]);
    expect(paths('sendMessage', { chat_id: 1, text: '*x*', parse_mode: 'MarkdownV2' })).toEqual(['parse_mode']);
  });

  it('checks captions, empty texts, callback answers and keyboard sizes', () => {
    expect(paths('sendPhoto', { chat_id: 1, photo: 'id', caption: 'c'.repeat(1_025) })).toEqual(['caption']);
    expect(paths('sendMessage', { chat_id: 1, text: '   ' })).toEqual(['text']);
    expect(paths('answerCallbackQuery', { callback_query_id: 'q', text: 't'.repeat(201) })).toEqual(['text']);
    const row = Array.from({ length: 9 }, (_, i) => ({ text: `b${i}`, callback_data: `d${i}` }));
    expect(paths('sendMessage', { chat_id: 1, text: 'x', reply_markup: { inline_keyboard: [row] } })).toEqual([
      'reply_markup.inline_keyboard.0',
    ]);
    const many = Array.from({ length: 13 }, () => row.slice(0, 8));
    expect(paths('sendMessage', { chat_id: 1, text: 'x', reply_markup: { inline_keyboard: many } })).toEqual([
      'reply_markup.inline_keyboard',
    ]);
    expect(
      paths('sendMessage', {
        chat_id: 1,
        text: 'x',
        reply_markup: { inline_keyboard: [[{ text: ' ', url: 'https://t.me' }]] },
      }),
    ).toEqual(['reply_markup.inline_keyboard.0.0.text']);
  });
});

describe('the output guard counts and checks what Telegram does', () => {
  it('counts a numeric entity as its character: &#128512; is 2 UTF-16 units, as the emoji itself', () => {
    expect(checkHtml('&#128512;&#x1F600;&#233;&amp;').length).toBe(6);
    expect(checkHtml('a&#128512;b').text).toBe('a\u{1F600}b');
    const emoji = (n: number) => ({ chat_id: 1, text: '&#128512;'.repeat(n), parse_mode: 'HTML' });
    expect(paths('sendMessage', emoji(4_096))).toEqual(['text']); // 8 192 units once parsed
    expect(paths('sendMessage', emoji(2_048))).toEqual([]);
    expect(checkHtml('&#9999999;').length).toBe(1); // past U+10FFFF: one replacement character
  });

  it('refuses a text whose visible part is empty: empty tags, blanks, only characters normalizing removes', () => {
    const name = '\u200B\u202E'; // a first_name html`` strips to nothing
    for (const text of ['<b></b>', '<b> </b>', html`<b>${name}</b>`, '<i>&#8203;</i>', '\u200B'])
      expect(paths('sendMessage', { chat_id: 1, text, parse_mode: 'HTML' }), JSON.stringify(text)).toEqual(['text']);
    expect(paths('editMessageText', { chat_id: 1, message_id: 2, text: '\uFEFF \n' })).toEqual(['text']);
    expect(paths('sendMessage', { chat_id: 1, text: '<b>&lt;</b>', parse_mode: 'HTML' })).toEqual([]);
    expect(paths('sendMessage', { chat_id: 1, text: '\u{1F600}' })).toEqual([]);
  });

  it("checks each caption of an album (sendMediaGroup) and editMessageMedia's", () => {
    const media = [
      { type: 'photo', media: 'x', caption: 'a'.repeat(2_000) },
      { type: 'photo', media: 'y' },
      { type: 'photo', media: 'z', caption: '<b>ok</b>', parse_mode: 'HTML' },
      { type: 'photo', media: 'w', caption: '<b>open', parse_mode: 'HTML' },
      { type: 'photo', media: 'v', caption: '*x*', parse_mode: 'MarkdownV2' },
    ];
    expect(paths('sendMediaGroup', { chat_id: 1, media })).toEqual([
      'media.0.caption',
      'media.3.caption',
      'media.4.parse_mode',
    ]);
    expect(paths('editMessageMedia', { chat_id: 1, message_id: 2, media: media[0] })).toEqual(['media.caption']);
    expect(paths('sendMediaGroup', { chat_id: 1, media: media.slice(1, 3) })).toEqual([]);
  });
});

describe('validateInput / validateOutput', () => {
  it('return typed values or a ValidationError listing issues with paths', () => {
    expect(validateInput(TelegramInput.startPayload, 'vip_abc-123')).toBe('vip_abc-123');
    for (const [schema, bad] of [
      [TelegramInput.startPayload, 'vip token!'],
      [TelegramInput.startPayload, 'x'.repeat(65)],
      [TelegramInput.userId, 0],
      [TelegramInput.userId, 1.5],
      [TelegramInput.chatId, 0],
      [TelegramInput.messageText, ''],
      [TelegramInput.messageText, 'x'.repeat(4_097)],
      [TelegramInput.caption, 'x'.repeat(1_025)],
      [TelegramInput.callbackData, 'ñ'.repeat(33)], // 66 bytes
      [TelegramInput.username, 'ab'],
    ] as const) {
      let error: unknown;
      try {
        validateInput(schema, bad);
      } catch (e) {
        error = e;
      }
      expect(isDianaError(error, 'E_SECURITY_INPUT_INVALID')).toBe(true);
    }
    expect(validateInput(TelegramInput.chatId, '@diana_channel')).toBe('@diana_channel');
    expect(validateInput(TelegramInput.chatId, -1001234567890)).toBe(-1001234567890);
    let error: { code?: string; issues?: Array<{ path: string }> } = {};
    try {
      validateOutput(TelegramInput.messageText, 'y'.repeat(5_000));
    } catch (e) {
      error = e as typeof error;
    }
    expect(error.code).toBe('E_SECURITY_OUTPUT_INVALID');
    expect(error.issues).toHaveLength(1);
  });
});
