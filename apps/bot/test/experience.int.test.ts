// The bot as its users meet it (#19, "what users expect to find"): the ways in (/ayuda, /help,
// /menu, deep links, a first "hola"), the command menu registered with Telegram per role,
// case-insensitive commands, the main menu's buttons and /perfil. The whole app on real
// PostgreSQL (memory bus and cache), Telegram replaced by the fake Bot API.
import { loadSettings } from '@diana/config';
import { createUserRepository } from '@diana/db';
import {
  createUpdateFactory,
  until as pollUntil,
  startFakeTelegram,
  useTempDir,
  useTestDatabase,
} from '@diana/test-services';
import { SILENT_LOGGER } from '@diana/utils';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp, HELP } from '../src/app.js';
import { menuCommandsFor, USER_COMMANDS } from '../src/commands.js';
import { SETTINGS_SCHEMAS } from '../src/config.js';
import { userCacheKey } from '../src/middleware.js';
import { formatDayMonth } from '../src/profile.js';
import { isNotice } from './notices.js';

const testDb = await useTestDatabase('bot-experience');
const fake = await startFakeTelegram();
const OWNER = 950;
const TIMEZONE = 'Europe/Madrid';
const settings = loadSettings(
  SETTINGS_SCHEMAS,
  {
    DIANA_DATABASE_URL: testDb.url,
    DIANA_DATABASE_DIRECT_URL: testDb.direct_url,
    DIANA_BOT_TELEGRAM_BOT_TOKEN: '123456:experience-token',
    DIANA_BOT_TELEGRAM_API_ROOT: fake.url,
    DIANA_BOT_DATA_DIR: useTempDir('diana-experience-'),
    DIANA_BOT_OWNER_TELEGRAM_IDS: String(OWNER),
    DIANA_BOT_TIMEZONE: TIMEZONE,
    DIANA_SECURITY_CALLBACK_SECRET: 'x'.repeat(40),
    DIANA_SECURITY_TOKEN_PEPPER: 'y'.repeat(40),
  },
  { env_file: false },
);
// /perfil's sources the other modules will provide (the streak, the VIP subscription): stubs
const VIP_UNTIL = new Date(Date.now() + 30 * 86_400_000);
const vipUsers = new Set<string>();
let app: App;
beforeAll(async () => {
  app = await createApp(settings, {
    logger: SILENT_LOGGER,
    // straight to the fake (no throttling to Telegram's 1 message a second per chat: the test stays fast)
    apiTransformer: (prev, method, payload, signal) => prev(method, payload, signal),
    profile: {
      besitos: async (user_id) => ({ balance: await app.gamification.ledger.balance(user_id), streak_days: 3 }),
      vipUntil: async (user_id) => (vipUsers.has(user_id) ? VIP_UNTIL : undefined),
    },
  });
});
afterAll(async () => {
  await app?.close({ timeout_ms: 5_000 });
  await fake.close();
});

const updates = createUpdateFactory(5_000);
const say = (tg: number, text: string) => app.handleUpdate(updates.message(tg, text) as Update);
const press = (tg: number, data: string) => app.handleUpdate(updates.press(tg, data) as Update);
/** What a user was answered (payment notices arrive at their own time: left out). */
const sentTo = (tg: number) =>
  fake.calls.filter((c) => c.method === 'sendMessage' && c.payload.chat_id === tg && !isNotice(c.payload.text));
const lastText = (tg: number) => String(sentTo(tg).at(-1)?.payload.text ?? '');
const buttonsOf = (tg: number) => {
  const rows =
    (
      sentTo(tg).at(-1)?.payload.reply_markup as {
        inline_keyboard?: Array<Array<{ text: string; callback_data: string }>>;
      }
    )?.inline_keyboard ?? [];
  return new Map(rows.flat().map((b) => [b.text, b.callback_data]));
};
const MENU = ['📖 Historia', '🎒 Mochila', '💋 Saldo', '🎁 Regalo', '🛍 Tienda', '🎯 Misiones', '👤 Perfil'];
type Scope = { type: string; chat_id?: number };
const commandCalls = (chat?: number) =>
  fake.calls.filter(
    (c) =>
      (c.method === 'setMyCommands' || c.method === 'deleteMyCommands') &&
      (chat === undefined
        ? (c.payload.scope as Scope | undefined) === undefined
        : (c.payload.scope as Scope | undefined)?.chat_id === chat),
  );
const names = (call: { payload: Record<string, unknown> } | undefined) =>
  ((call?.payload.commands as Array<{ command: string }> | undefined) ?? []).map((c) => c.command);
const until = (check: () => Promise<boolean> | boolean, ms = 10_000) => pollUntil(check, ms, 25);

describe('the command menu (setMyCommands)', () => {
  it('is registered at start: the user commands for everyone, every command for the configured owner', () => {
    const [everyone] = commandCalls();
    expect(everyone?.method).toBe('setMyCommands');
    expect(names(everyone)).toEqual(USER_COMMANDS.map((c) => c.command));
    expect(everyone?.payload.commands).toContainEqual({
      command: 'perfil',
      description: 'Tu perfil: rol, besitos, racha y VIP',
    });
    const [owner] = commandCalls(OWNER);
    expect(owner?.payload.scope).toEqual({ type: 'chat', chat_id: OWNER });
    expect(names(owner)).toEqual(menuCommandsFor('OWNER').map((c) => c.command));
    expect(names(owner)).toEqual(expect.arrayContaining(['saldo', 'admin', 'config', 'dlq', 'rol', 'tarifas']));
  });

  it('gives the staff in `users` a menu of their own at start, fitting each role', async () => {
    const users = createUserRepository(app.db);
    const moderator = await users.upsertFromTelegram({ id: 951, first_name: 'Mod' });
    await users.setRole(moderator.user.id, 'MODERATOR');
    const creator = await users.upsertFromTelegram({ id: 952, first_name: 'Cre' });
    await users.setRole(creator.user.id, 'CONTENT_CREATOR');
    await users.upsertFromTelegram({ id: 953, first_name: 'Vip' }).then((r) => users.setRole(r.user.id, 'VIP'));
    await app.commandMenu.registerAll(); // as at the next start
    const mod = names(commandCalls(951).at(-1));
    expect(mod).toEqual(
      expect.arrayContaining(['admin', 'ban', 'unban', 'stats', 'usuario', 'auditoria', 'programar']),
    );
    expect(mod).not.toContain('config');
    expect(mod).not.toContain('rol');
    const cre = names(commandCalls(952).at(-1));
    expect(cre.slice(USER_COMMANDS.length)).toEqual(['admin', 'programar', 'programados', 'cancelar_post']);
    expect(commandCalls(953)).toEqual([]); // VIP is not staff: the default menu
  });

  it('follows a role change made with /rol: staff get theirs, a demoted one goes back to the default menu', async () => {
    await say(960, '/start');
    await say(OWNER, '/rol 960 moderador');
    expect(lastText(OWNER)).toContain('moderador');
    expect(await until(() => commandCalls(960).length === 1)).toBe(true);
    expect(commandCalls(960)[0]?.method).toBe('setMyCommands');
    expect(names(commandCalls(960)[0])).toContain('ban');
    await say(OWNER, '/rol 960 gratuito');
    expect(await until(() => commandCalls(960).length === 2)).toBe(true);
    expect(commandCalls(960)[1]).toMatchObject({
      method: 'deleteMyCommands',
      payload: { scope: { type: 'chat', chat_id: 960 } },
    });
  });
});

describe('the ways in', () => {
  it('/ayuda and /help list what a user can do, with the main menu; staff are pointed to /admin', async () => {
    await say(970, '/ayuda');
    const help = lastText(970);
    expect(help).toContain('Qué puedes hacer aquí');
    for (const c of USER_COMMANDS) expect(help).toContain(`/${c.command} — ${c.description}`);
    expect(help).not.toContain('/admin');
    expect([...buttonsOf(970).keys()]).toEqual(MENU);
    await say(970, '/help');
    expect(lastText(970)).toBe(help);
    await say(OWNER, '/ayuda');
    expect(lastText(OWNER)).toContain('Tu rol es «propietario»: tienes también comandos de administración, y /admin');
  });

  it('/start with a deep link nobody owns greets and starts the story; a vip_ link is still the admin module’s', async () => {
    await say(971, '/start promo_instagram');
    expect(lastText(971)).toContain('Te damos la bienvenida a la casa de Diana.');
    expect(lastText(971)).toContain('Soy Lucien, mayordomo');
    expect([...buttonsOf(971).keys()]).toEqual(['Entrar con educación', 'Mirar por la ventana primero']);
    expect(sentTo(971)).toHaveLength(1);
    // someone whose first message is a link that does not open: told so, then welcomed all the same
    await say(972, '/start vip_not-a-real-token');
    expect(sentTo(972).map((c) => String(c.payload.text))[0]).toBe('Este enlace no es válido.');
    expect(lastText(972)).toContain('Te damos la bienvenida a la casa de Diana.');
    expect([...buttonsOf(972).keys()]).toEqual(['Entrar con educación', 'Mirar por la ventana primero']);
    expect(sentTo(972)).toHaveLength(2);
    // a reader already in the story is only told
    await say(971, '/start vip_not-a-real-token');
    expect(lastText(971)).toBe('Este enlace no es válido.');
    expect(sentTo(971)).toHaveLength(2);
    // a new user's first message is a link that opens: the Diván's welcome, then the story's
    await say(OWNER, '/tarifa prueba 30 1');
    await say(OWNER, '/token prueba');
    const link = /start=(vip_[A-Za-z0-9_-]+)/.exec(lastText(OWNER))?.[1];
    expect(link).toBeDefined();
    await say(976, `/start ${link}`);
    const texts = sentTo(976).map((c) => String(c.payload.text));
    expect(texts[0]).toContain('¡Te damos la bienvenida al Diván!');
    expect(lastText(976)).toContain('Te damos la bienvenida a la casa de Diana.');
    expect([...buttonsOf(976).keys()]).toEqual(['Entrar con educación', 'Mirar por la ventana primero']);
  });

  it("a new user's first words are greeted with the main menu, a later 'hola' too; anything else gets the help line and the menu", async () => {
    await say(973, 'buenas, ¿qué es esto?');
    expect(lastText(973)).toContain('¡Hola, U973! Te damos la bienvenida a la casa de Diana.');
    expect(lastText(973)).not.toContain('No te he entendido');
    expect([...buttonsOf(973).keys()]).toEqual(MENU);
    await say(973, '¡Hola!');
    expect(lastText(973)).toBe('¡Hola de nuevo, U973! ¿Qué te apetece hacer?');
    await say(973, 'asdf');
    expect(lastText(973)).toBe(HELP);
    expect([...buttonsOf(973).keys()]).toEqual(MENU);
    await say(973, '/nope');
    expect(lastText(973)).toBe(HELP);
  });

  it("a new user whose first message is a sticker or a photo is greeted with the main menu, not told 'No te he entendido'", async () => {
    /** User `tg`'s message carrying `media` instead of text (a sticker, a photo). */
    const media = (tg: number, body: Record<string, unknown>) => {
      const { text: _text, ...message } = updates.message(tg, '').message;
      return app.handleUpdate({ update_id: message.message_id, message: { ...message, ...body } } as Update);
    };
    const file = { file_id: 'f1', file_unique_id: 'u1', width: 512, height: 512 };
    await media(977, { sticker: { ...file, type: 'regular', is_animated: false, is_video: false } });
    expect(sentTo(977).map((c) => c.payload.text)).toEqual([
      '¡Hola, U977! Te damos la bienvenida a la casa de Diana.\n\n' +
        'Aquí vives una historia que cuentan Lucien, el mayordomo, y Diana, la dueña de la casa. ' +
        'Tus decisiones te dan besitos, que puedes cambiar en la tienda. Empieza con /historia o elige abajo.',
    ]);
    expect([...buttonsOf(977).keys()]).toEqual(MENU);
    await media(978, { photo: [file], caption: 'mira' });
    expect(sentTo(978)).toHaveLength(1);
    expect(lastText(978)).toContain('¡Hola, U978! Te damos la bienvenida a la casa de Diana.');
    // the greeting is for the first message only: a second sticker gets the help line
    await media(977, { sticker: { ...file, type: 'regular', is_animated: false, is_video: false } });
    expect(lastText(977)).toBe(HELP);
    expect([...buttonsOf(977).keys()]).toEqual(MENU);
  });

  it('commands are case-insensitive, with or without the bot’s name; arguments keep their case', async () => {
    await say(974, '/AYUDA');
    expect(lastText(974)).toContain('Qué puedes hacer aquí');
    await say(974, '/Saldo');
    expect(lastText(974)).toMatch(/Tienes <b>\d+ besitos<\/b>/);
    await say(974, '/Historia@diana_test_bot');
    expect(lastText(974)).toContain('Soy Lucien, mayordomo');
    await say(974, '/START VIP_abc');
    expect(lastText(974)).toContain('Seguimos donde lo dejaste'); // not a vip_ token (the payload kept its case)
  });
});

describe('the main menu', () => {
  it('/menu shows it; pressing a button does what the command does', async () => {
    await say(980, '/start');
    await say(980, '/menu');
    expect(lastText(980)).toBe('¿Qué te apetece hacer?');
    const menu = buttonsOf(980);
    expect([...menu.keys()]).toEqual(MENU);
    await press(980, menu.get('💋 Saldo') as string);
    const pressed = lastText(980);
    expect(pressed).toMatch(/^Tienes <b>\d+ besitos<\/b>/);
    await say(980, '/saldo');
    expect(lastText(980)).toBe(pressed);
    expect(fake.calls.filter((c) => c.method === 'answerCallbackQuery').at(-1)?.payload.text).toBeUndefined();
    await press(980, menu.get('📖 Historia') as string);
    expect(lastText(980)).toContain('Seguimos donde lo dejaste');
    await press(980, menu.get('👤 Perfil') as string);
    expect(lastText(980)).toContain('Tu perfil');
  });

  it("another user's menu button is refused", async () => {
    await say(981, '/menu');
    const before = sentTo(982).length;
    await press(982, buttonsOf(981).get('💋 Saldo') as string);
    expect(sentTo(982)).toHaveLength(before);
    expect(fake.calls.filter((c) => c.method === 'answerCallbackQuery').at(-1)?.payload.text).toBe(
      'Este botón ya no es válido.',
    );
  });
});

describe('/perfil', () => {
  it('shows the role in Spanish, the besitos, the streak of daily gifts and the VIP expiry in words', async () => {
    await say(990, '/start');
    const users = createUserRepository(app.db);
    const user = (await users.getByTelegramId(990))?.id as string;
    await say(990, '/saldo'); // the welcome bonus is paid by now
    await say(990, '/perfil');
    const free = lastText(990);
    expect(free).toContain('<b>Tu perfil</b>');
    expect(free).toContain('👤 U990');
    expect(free).toContain('🎭 Rol: gratuito');
    expect(free).toContain(`💋 ${await app.gamification.ledger.balance(user)} besitos`);
    expect(free).toContain('🎁 Racha de regalos diarios: 3 días');
    expect(free).not.toContain('VIP hasta');
    await users.setRole(user, 'VIP');
    await app.cache.delete(userCacheKey(990));
    vipUsers.add(user);
    await say(990, '/PERFIL');
    const vip = lastText(990);
    expect(vip).toContain('🎭 Rol: VIP');
    expect(vip).toContain(`💎 VIP hasta el ${formatDayMonth(VIP_UNTIL, TIMEZONE)}`);
    expect(vip).toMatch(/VIP hasta el \d{1,2} de [a-z]+( de \d{4})?\n/);
  });
});
