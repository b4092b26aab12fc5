// The guards through a real grammY bot (handleUpdate); Telegram's API is a recording transformer.
import { FAKE_BOT_INFO } from '@diana/test-services';
import { createManualClock } from '@diana/utils';
import { Bot, type Context } from 'grammy';
import type { Update } from 'grammy/types';
import { describe, expect, it } from 'vitest';
import { createCallbackSigner } from '../src/callback.js';
import {
  blockBanned,
  isSignedAction,
  outputGuard,
  rateLimit,
  requirePermission,
  type SecurityFlavor,
  verifyCallbacks,
} from '../src/grammy.js';
import { createRateLimiter } from '../src/rate-limit.js';

type Ctx = Context & SecurityFlavor;
const botInfo = FAKE_BOT_INFO;
const ROLES: Record<number, string> = { 1: 'OWNER', 2: 'FREE', 3: 'BANNED' };
const signer = createCallbackSigner({ callback_secret: 's'.repeat(40) });
let nextId = 0;
const from = (id: number) => ({ id, is_bot: false, first_name: `U${id}` });
const message = (user: number, text: string): Update => {
  const command = text.startsWith('/') ? text.split(' ')[0]?.length : undefined;
  return {
    update_id: ++nextId,
    message: {
      message_id: nextId,
      date: 0,
      chat: { id: user, type: 'private', first_name: 'U' },
      from: from(user),
      text,
      ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command }] } : {}),
    },
  } as Update;
};
const press = (user: number, data: string): Update =>
  ({
    update_id: ++nextId,
    callback_query: {
      id: `q${nextId}`,
      from: from(user),
      chat_instance: 'c',
      data,
      message: { message_id: 1, date: 0, chat: { id: user, type: 'private', first_name: 'U' } },
    },
  }) as Update;

function makeBot() {
  const bot = new Bot<Ctx>('0:test', { botInfo });
  const calls: Array<{ method: string; payload: Record<string, unknown> }> = [];
  bot.api.config.use(async (_prev, method, payload) => {
    calls.push({ method, payload: payload as Record<string, unknown> });
    return { ok: true, result: true } as never;
  });
  bot.api.config.use(outputGuard()); // installed last: it runs first
  const reached: string[] = [];
  const getRole = (ctx: Ctx) => ROLES[ctx.from?.id ?? 0] ?? 'FREE';
  bot.use(blockBanned(getRole));
  bot.use(verifyCallbacks(signer));
  const limiter = createRateLimiter(
    {},
    {
      getPolicy: (action) => (action === 'bid' ? { limit: 1, window_ms: 5_000 } : undefined),
      clock: createManualClock(0),
    },
  );
  bot.command('start', async (ctx) => {
    reached.push(`start:${ctx.from?.id}`);
  });
  bot.command('rol', requirePermission('edit_config', getRole), async (ctx) => {
    reached.push(`admin:${ctx.from?.id}`);
  });
  bot.command('pujar', rateLimit(limiter, 'bid'), async (ctx) => {
    reached.push(`bid:${ctx.from?.id}`);
  });
  bot.filter(isSignedAction('choose'), async (ctx) => {
    reached.push(`choose:${ctx.signedCallback?.args.join(',')}`);
    await ctx.answerCallbackQuery();
  });
  bot.command('long', async (ctx) => {
    await ctx.reply('x'.repeat(5_000));
  });
  return { bot, calls, reached };
}

describe('guards through grammY', () => {
  it("a BANNED user's update never reaches a module handler", async () => {
    const { bot, reached, calls } = makeBot();
    await bot.handleUpdate(message(3, '/start'));
    await bot.handleUpdate(press(3, signer.sign('choose', ['a'])));
    expect(reached).toEqual([]);
    expect(calls.map((c) => c.method)).toEqual(['answerCallbackQuery']); // the button stops spinning, nothing said
    await bot.handleUpdate(message(2, '/start'));
    expect(reached).toEqual(['start:2']);
  });

  it("a FREE user can't run an admin command; the OWNER can", async () => {
    const { bot, reached, calls } = makeBot();
    await bot.handleUpdate(message(2, '/rol 5 ADMIN'));
    expect(reached).toEqual([]);
    expect(calls[0]).toMatchObject({ method: 'sendMessage', payload: { text: 'No tienes permiso para hacer esto.' } });
    await bot.handleUpdate(message(1, '/rol 5 ADMIN'));
    expect(reached).toEqual(['admin:1']);
  });

  it('a forged or borrowed callback never reaches its handler; a genuine one does', async () => {
    const { bot, reached, calls } = makeBot();
    const genuine = signer.sign('choose', ['door_2'], { userId: 2 });
    const forged = `${genuine.slice(0, -1)}${genuine.endsWith('A') ? 'B' : 'A'}`;
    const evil = createCallbackSigner({ callback_secret: 'e'.repeat(40) }).sign('choose', ['door_9']);
    await bot.handleUpdate(press(2, forged));
    await bot.handleUpdate(press(2, evil));
    await bot.handleUpdate(press(1, genuine)); // user 2's button, pressed by user 1
    await bot.handleUpdate(press(2, 'choose|door_2')); // unsigned
    expect(reached).toEqual([]);
    expect(calls.filter((c) => c.payload.text === 'Este botón ya no es válido.')).toHaveLength(4);
    await bot.handleUpdate(press(2, genuine));
    expect(reached).toEqual(['choose:door_2']);
  });

  it('a rate-limited command is answered with the wait once per window and stops', async () => {
    const { bot, reached, calls } = makeBot();
    await bot.handleUpdate(message(2, '/pujar 10'));
    for (let i = 0; i < 10; i++) await bot.handleUpdate(message(2, `/pujar ${20 + i}`));
    expect(reached).toEqual(['bid:2']);
    const notices = calls.filter((c) => c.payload.text === 'Vas demasiado rápido. Inténtalo de nuevo en 5 segundos.');
    expect(notices).toHaveLength(1); // ten refusals, one notice
    await bot.handleUpdate(message(4, '/pujar 10'));
    await bot.handleUpdate(message(4, '/pujar 11'));
    expect(calls.filter((c) => c.payload.text?.toString().startsWith('Vas demasiado'))).toHaveLength(2); // per user
  });

  it('an exempt update skips the limit', async () => {
    const { bot, reached } = makeBot();
    const limiter = createRateLimiter({}, { getPolicy: () => ({ limit: 1, window_ms: 60_000 }) });
    bot.command(
      'staff',
      rateLimit(limiter, 'updates', { exempt: (ctx) => ctx.from?.id === 1 }),
      async (ctx) => void reached.push(`staff:${ctx.from?.id}`),
    );
    for (let i = 0; i < 3; i++) await bot.handleUpdate(message(1, '/staff'));
    for (let i = 0; i < 3; i++) await bot.handleUpdate(message(2, '/staff'));
    expect(reached).toEqual(['staff:1', 'staff:1', 'staff:1', 'staff:2']);
  });

  it('the output guard stops a message Telegram would reject before it is sent', async () => {
    const { bot, calls } = makeBot();
    const error = await bot.handleUpdate(message(2, '/long')).catch((e: unknown) => e);
    expect(String(error)).toMatch(/E_SECURITY_OUTPUT_INVALID|refusing to send sendMessage/);
    expect(calls).toEqual([]); // nothing reached the API
  });
});
