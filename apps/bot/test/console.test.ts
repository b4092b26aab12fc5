// The console chat's stand-in for Telegram's servers: what it answers the bot, and what it shows.
import { PassThrough } from 'node:stream';
import type { Update } from 'grammy/types';
import { describe, expect, it } from 'vitest';
import { createConsole, runConsole } from '../src/console.js';

const call = async (transformer: ReturnType<typeof createConsole>['transformer'], method: string, payload: object) =>
  ((await transformer(undefined as never, method as never, payload as never, undefined)) as { result: unknown }).result;

describe('console chat', () => {
  it('answers createChatInviteLink with a link of its own, a new one each time (a VIP redeem shows it)', async () => {
    const { transformer } = createConsole(new PassThrough());
    const first = (await call(transformer, 'createChatInviteLink', { chat_id: -100, member_limit: 1 })) as {
      invite_link?: unknown;
      member_limit?: unknown;
    };
    const second = (await call(transformer, 'createChatInviteLink', { chat_id: -100, member_limit: 1 })) as {
      invite_link?: unknown;
    };
    expect(first.invite_link).toMatch(/^https:\/\/t\.me\/\+consola\d+$/);
    expect(first.member_limit).toBe(1);
    expect(second.invite_link).not.toBe(first.invite_link);
  });

  it("shows a removal from the VIP channel, which no chat shows, and numbers a message's buttons", async () => {
    const output = new PassThrough();
    let shown = '';
    output.on('data', (chunk) => (shown += String(chunk)));
    const chat = createConsole(output);
    await call(chat.transformer, 'banChatMember', { chat_id: -1002, user_id: 1000001 });
    const sent = (await call(chat.transformer, 'sendMessage', {
      chat_id: 1000001,
      text: 'Hola',
      reply_markup: { inline_keyboard: [[{ text: 'Sí', callback_data: 'yes~-sig' }]] },
    })) as { message_id?: unknown };
    expect(shown).toContain('(Telegram: el usuario 1000001 sale del canal -1002)');
    expect(shown).toContain('Hola\n  [1.1] Sí');
    expect(sent.message_id).toBe(1);
    expect(chat.button('1.1')).toEqual({ data: 'yes~-sig', chat_id: 1000001, message_id: 1 });
  });

  it("a press of a channel post's button comes from the channel, not from the typist's private chat", async () => {
    const chat = createConsole(new PassThrough());
    await call(chat.transformer, 'sendMessage', {
      chat_id: -1001,
      text: 'Publicación',
      reply_markup: { inline_keyboard: [[{ text: '💋', callback_data: 'react~sig' }]] },
    });
    const pressed: Update[] = [];
    const input = new PassThrough();
    const done = runConsole({
      input,
      output: new PassThrough(),
      handleUpdate: async (update) => void pressed.push(update),
      button: chat.button,
    });
    input.end('1.1\n');
    await done;
    expect(pressed[0]?.callback_query?.data).toBe('react~sig');
    expect(pressed[0]?.callback_query?.message?.chat).toMatchObject({ id: -1001, type: 'channel' });
    expect(pressed[0]?.callback_query?.message?.message_id).toBe(1);
  });
});

describe('createConsole: where a message went', () => {
  it("labels a message to another user or a channel with that chat; the typist's own go unlabelled", async () => {
    const output = new PassThrough();
    let shown = '';
    output.on('data', (chunk) => (shown += String(chunk)));
    const chat = createConsole(output);
    chat.viewAs(900);
    await call(chat.transformer, 'sendMessage', { chat_id: 900, text: 'Hecho.' });
    await call(chat.transformer, 'sendMessage', { chat_id: 1000002, text: 'Ahora tienes 150 besitos.' });
    await call(chat.transformer, 'sendMessage', { chat_id: -1002, text: 'Publicación' });
    expect(shown).toContain('\nHecho.\n');
    expect(shown).not.toContain('(al usuario 900)');
    expect(shown).toContain('\n(al usuario 1000002)\nAhora tienes 150 besitos.');
    expect(shown).toContain('\n(en el canal -1002)\nPublicación');
  });

  it('runConsole tells it who types, at the start and at each /as', async () => {
    const seen: number[] = [];
    const input = new PassThrough();
    const done = runConsole({
      input,
      output: new PassThrough(),
      handleUpdate: async () => {},
      button: () => undefined,
      viewAs: (id) => seen.push(id),
    });
    input.end('/as 900\nhola\n/as 42\n');
    await done;
    expect(seen).toEqual([1_000_001, 900, 42]);
  });
});

describe('runConsole', () => {
  it('numbers the updates of each run from a base of its own: a second run on one Redis is not taken for the first', async () => {
    const run = async (update_id_base?: number) => {
      const ids: number[] = [];
      const input = new PassThrough();
      const done = runConsole({
        input,
        output: new PassThrough(),
        handleUpdate: async (update) => void ids.push(update.update_id),
        button: () => undefined,
        ...(update_id_base === undefined ? {} : { update_id_base }),
      });
      input.end('/start\nhola\n');
      await done;
      return ids;
    };
    expect(await run(41)).toEqual([42, 43]);
    const first = await run();
    await new Promise((resolve) => setTimeout(resolve, 2)); // two starts, a few milliseconds apart
    const second = await run();
    expect(first).toHaveLength(2);
    expect(second[0]).toBeGreaterThan(first.at(-1) as number);
    expect(Number.isSafeInteger(second.at(-1))).toBe(true);
  });
});
