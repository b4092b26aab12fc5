// The whole bot in this process on real PostgreSQL and a private Redis, Telegram replaced by
// a fake Bot API on loopback: updates go in through handleUpdate or the webhook.
import { loadSettings } from '@diana/config';
import { createUserRepository } from '@diana/db';
import {
  createUpdateFactory,
  until as pollUntil,
  startFakeTelegram,
  startRedis,
  useTempDir,
  useTestDatabase,
} from '@diana/test-services';
import { SILENT_LOGGER } from '@diana/utils';
import type { Update } from 'grammy/types';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, createApp, HELP } from '../src/app.js';
import { SETTINGS_SCHEMAS } from '../src/config.js';
import { type HttpServer, startHttp } from '../src/http.js';
import { type AppMetrics, installMetrics } from '../src/metrics.js';
import { userCacheKey } from '../src/middleware.js';
import { isNotice } from './notices.js';

const testDb = await useTestDatabase('bot-e2e');
const redis = await startRedis();
const fake = await startFakeTelegram();
const WEBHOOK_SECRET = 'e2e-webhook-secret-0123456789abcdef';
const settings = loadSettings(
  SETTINGS_SCHEMAS,
  {
    DIANA_DATABASE_URL: testDb.url,
    DIANA_DATABASE_DIRECT_URL: testDb.direct_url, // used through PgBouncer (DIANA_TEST_POOLER=pgbouncer)
    DIANA_REDIS_URL: redis.url,
    DIANA_BOT_TELEGRAM_BOT_TOKEN: '123456:e2e-token',
    DIANA_BOT_TELEGRAM_API_ROOT: fake.url,
    DIANA_BOT_DATA_DIR: useTempDir('diana-bot-'),
    DIANA_BOT_OWNER_TELEGRAM_IDS: '900',
    DIANA_SECURITY_CALLBACK_SECRET: 'c'.repeat(40),
    DIANA_SECURITY_TOKEN_PEPPER: 'p'.repeat(40),
    DIANA_EVENT_BUS_BLOCK_MS: '100',
    DIANA_EVENT_BUS_MAX_LEN: '1000',
  },
  { env_file: false },
);
let app: App;
let metrics: AppMetrics;
let http: HttpServer;
beforeAll(async () => {
  metrics = installMetrics();
  app = await createApp(settings, { logger: SILENT_LOGGER });
  http = await startHttp(
    { app, starting: 'started' },
    { port: 0, host: '127.0.0.1', metrics, webhook_secret: WEBHOOK_SECRET },
  );
});
afterAll(async () => {
  await http?.close();
  await app?.close({ timeout_ms: 5_000 });
  await metrics?.close();
  await fake.close();
  await redis.stop();
});

const updates = createUpdateFactory(1_000);
const message = (tg: number, text: string, update_id?: number) => updates.message(tg, text, update_id) as Update;
const press = (tg: number, data: string) => updates.press(tg, data) as Update;
const sentTo = (tg: number) => fake.calls.filter((c) => c.method === 'sendMessage' && c.payload.chat_id === tg);
/** What a user was answered, without the payment notices. */
const repliesTo = (tg: number) => sentTo(tg).filter((c) => !isNotice(c.payload.text));
const buttonsOf = (tg: number) => {
  const last = sentTo(tg)
    .filter((c) => (c.payload.reply_markup as { inline_keyboard?: unknown[] } | undefined)?.inline_keyboard?.length)
    .at(-1);
  const rows = (
    (last?.payload.reply_markup as { inline_keyboard: Array<Array<{ text: string; callback_data: string }>> })
      ?.inline_keyboard ?? []
  ).flat();
  return new Map(rows.map((b) => [b.text, b.callback_data]));
};
const get = async (path: string) => {
  const res = await fetch(`http://127.0.0.1:${http.port}${path}`);
  return { status: res.status, text: await res.text() };
};
/** `diana_bot_updates_total` of commands with `outcome`, as /metrics says now. */
const commandsCounted = async (outcome: string) => {
  const line = (await get('/metrics')).text
    .split('\n')
    .find(
      (l) =>
        l.startsWith('diana_bot_updates_total{') && l.includes('kind="command"') && l.includes(`outcome="${outcome}"`),
    );
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
};
const until = (check: () => Promise<boolean> | boolean, ms = 10_000) => pollUntil(check, ms, 50);

describe('the bot end to end', () => {
  it("flow 1: /start creates the user, records user.registered with it, and shows Lucien's first fragment with buttons", async () => {
    await app.handleUpdate(message(501, '/start'));
    const user = await createUserRepository(app.db).getByTelegramId(501);
    expect(user).toMatchObject({ role: 'FREE', status: 'active', first_name: 'U501' });
    const [registered] = await app.db.sql<{ n: number }[]>`
      select count(*)::int as n from event_outbox where type = 'user.registered' and key = ${user?.id ?? ''}`;
    expect(registered?.n).toBe(1);
    expect(String(repliesTo(501).at(-1)?.payload.text)).toContain('<b>Lucien</b>');
    expect([...buttonsOf(501).keys()]).toEqual(['Entrar con educación', 'Mirar por la ventana primero']);
    // a second /start is not a second registration
    await app.handleUpdate(message(501, '/start'));
    const [again] = await app.db.sql<{ n: number }[]>`
      select count(*)::int as n from event_outbox where type = 'user.registered' and key = ${user?.id ?? ''}`;
    expect(again?.n).toBe(1);
  });

  it('flow 2 (narrative part): a tap advances once, a double tap does not repeat it, a forged button is refused', async () => {
    await app.handleUpdate(message(502, '/start'));
    const data = buttonsOf(502).get('Entrar con educación') as string;
    await Promise.all([app.handleUpdate(press(502, data)), app.handleUpdate(press(502, data))]);
    const user = await createUserRepository(app.db).getByTelegramId(502);
    const [decided] = await app.db.sql<{ n: number }[]>`
      select count(*)::int as n from event_outbox where type = 'narrative.decision_made' and key = ${user?.id ?? ''}`;
    expect(decided?.n).toBe(1);
    expect(String(repliesTo(502).at(-1)?.payload.text)).toContain('vestíbulo');
    await app.handleUpdate(press(502, `${data.slice(0, -2)}xx`));
    expect(fake.calls.filter((c) => c.method === 'answerCallbackQuery').at(-1)?.payload.text).toBe(
      'Este botón ya no es válido.',
    );
  });

  it('flows 1–3 with besitos: welcome bonus on /start, a decision paid once despite a double tap, /regalo once a day', async () => {
    await app.handleUpdate(message(508, '/start'));
    const user = (await createUserRepository(app.db).getByTelegramId(508))?.id as string;
    expect(await until(async () => (await app.gamification.ledger.balance(user)) === 50)).toBe(true);
    const data = buttonsOf(508).get('Entrar con educación') as string;
    await Promise.all([app.handleUpdate(press(508, data)), app.handleUpdate(press(508, data))]);
    // decision 5 + fragment completed 1 + the first-decision achievement 50, each once
    expect(await until(async () => (await app.gamification.ledger.balance(user)) === 106)).toBe(true);
    await app.handleUpdate(message(508, '/saldo'));
    expect(String(repliesTo(508).at(-1)?.payload.text)).toContain('106 besitos');
    await app.handleUpdate(message(508, '/regalo'));
    await app.handleUpdate(message(508, '/regalo'));
    expect(String(repliesTo(508).at(-1)?.payload.text)).toContain('El próximo estará listo');
    expect(await app.gamification.ledger.balance(user)).toBe(116);
    const { checkLedgerInvariants } = await import('@diana/gamification');
    expect(await checkLedgerInvariants(app.db)).toEqual({ ok: true, problems: [] });
  });

  it('flow 7: an owner changes the daily gift with /config set in one process; another process pays the new amount', async () => {
    const other = await createApp(settings, { logger: SILENT_LOGGER });
    try {
      await app.handleUpdate(message(900, '/start')); // 900 is an owner (DIANA_BOT_OWNER_TELEGRAM_IDS)
      await app.handleUpdate(message(900, '/config set gamification.rewards {"daily_gift": 33}'));
      expect(String(repliesTo(900).at(-1)?.payload.text)).toContain('gamification.rewards publicado');
      expect(
        await until(
          () => (other.config.get('gamification.rewards' as never) as { daily_gift: number }).daily_gift === 33,
        ),
      ).toBe(true);
      await other.handleUpdate(message(509, '/start'));
      await other.handleUpdate(message(509, '/regalo'));
      const user = (await createUserRepository(app.db).getByTelegramId(509))?.id as string;
      const [daily] = await app.db.sql<{ amount: number }[]>`
        select amount from besitos_transactions where user_id = ${user} and source = 'daily'`;
      expect(daily?.amount).toBe(33);
      const [audit] = await app.db.sql<
        { n: number }[]
      >`select count(*)::int as n from admin_audit where action = 'config_set' and actor = 'tg:900'`;
      expect(audit?.n).toBe(1);
      const [revision] = await app.db.sql<{ n: number }[]>`
        select count(*)::int as n from config_revisions where actor = 'tg:900' and action = 'publish'`;
      expect(revision?.n).toBe(1);
    } finally {
      await other.close({ timeout_ms: 5_000 });
    }
  });

  it('an OWNER no longer in owner_telegram_ids is ADMIN after start, audited; the listed owner stays OWNER', async () => {
    const users = createUserRepository(app.db);
    await app.handleUpdate(message(900, '/start'));
    await app.handleUpdate(message(920, '/start'));
    const former = (await users.getByTelegramId(920))?.id as string;
    await users.setRole(former, 'OWNER'); // listed once, since removed from the setting
    const other = await createApp(settings, { logger: SILENT_LOGGER });
    try {
      expect((await users.getById(former))?.role).toBe('ADMIN');
      expect((await users.getByTelegramId(900))?.role).toBe('OWNER');
      const audit = await app.db.sql<{ actor: string; action: string; reason: string; details: unknown }[]>`
        select actor, action, reason, details from admin_audit where target = ${former}`;
      expect(audit).toEqual([
        {
          actor: 'system',
          action: 'role',
          reason: 'not in owner_telegram_ids',
          details: { from: 'OWNER', to: 'ADMIN' },
        },
      ]);
      const [changed] = await app.db.sql<{ n: number }[]>`
        select count(*)::int as n from event_outbox where type = 'admin.role_changed' and key = ${former}`;
      expect(changed?.n).toBe(1);
    } finally {
      await other.close({ timeout_ms: 5_000 });
    }
  });

  it('a MODERATOR bans with /ban: the user is ignored from their next update; /unban lets them back', async () => {
    const users = createUserRepository(app.db);
    await app.handleUpdate(message(930, '/start'));
    await app.handleUpdate(message(931, '/start'));
    await users.setRole((await users.getByTelegramId(930))?.id as string, 'MODERATOR');
    await app.cache.delete(userCacheKey(930));
    await app.handleUpdate(message(930, '/ban 931 insultos'));
    expect(String(repliesTo(930).at(-1)?.payload.text)).toBe('Has baneado a U931 (931): el bot ya no le contesta.');
    const before = repliesTo(931).length;
    await app.handleUpdate(message(931, '/saldo'));
    await app.handleUpdate(message(931, 'hola'));
    expect(repliesTo(931)).toHaveLength(before); // ignored at once, though their row was cached
    await app.handleUpdate(message(930, '/unban 931'));
    await app.handleUpdate(message(931, '/nope'));
    expect(String(repliesTo(931).at(-1)?.payload.text)).toBe(HELP);
    const audit = await app.db.sql<{ action: string }[]>`
      select action from admin_audit where actor = 'tg:930' order by created_at`;
    expect(audit.map((a) => a.action)).toEqual(['ban', 'unban']);
  });

  it('answers unknown commands and free text politely (greetings and deep links: experience.int.test.ts)', async () => {
    for (const text of ['/nope', '<b>x</b>']) await app.handleUpdate(message(507, text));
    const replies = repliesTo(507).map((c) => c.payload.text);
    expect(replies).toEqual(Array(2).fill(HELP));
  });

  it('talks in private chats only: commands in a group or a channel post get no answer there, group members are not registered', async () => {
    const GROUP = -100_555;
    const CHANNEL = -100_556;
    let id = 600_000;
    const inChat = (tg: number, chat: Record<string, unknown>, text: string) => {
      const command = text.startsWith('/') ? (text.split(' ')[0] ?? '').length : 0;
      return {
        update_id: ++id,
        message: {
          message_id: id,
          date: 0,
          chat,
          from: { id: tg, is_bot: false, first_name: `U${tg}` },
          text,
          ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command }] } : {}),
        },
      } as unknown as Update;
    };
    const group = { id: GROUP, type: 'supergroup', title: 'Grupo' };
    await app.handleUpdate(message(900, '/start')); // 900 is an owner
    await app.handleUpdate(message(900, '/tarifa grupo30 30 100'));
    expect(String(repliesTo(900).at(-1)?.payload.text)).toContain('Tarifa grupo30');
    for (const text of ['/token grupo30', '/config', '/stats', '/dlq list user.registered', '/tienda', 'hola'])
      await app.handleUpdate(inChat(900, group, text));
    await app.handleUpdate(inChat(610, group, '/start'));
    await app.handleUpdate(inChat(610, group, 'hola a todos'));
    await app.handleUpdate({
      update_id: ++id,
      channel_post: {
        message_id: id,
        date: 0,
        chat: { id: CHANNEL, type: 'channel', title: 'Canal' },
        sender_chat: { id: CHANNEL, type: 'channel', title: 'Canal' },
        text: '/tienda',
        entities: [{ type: 'bot_command', offset: 0, length: 7 }],
      },
    } as Update);
    const toChats = fake.calls.filter((c) => c.payload.chat_id === GROUP || c.payload.chat_id === CHANNEL);
    expect(toChats).toEqual([]);
    const [tokens] = await app.db.sql<{ n: number }[]>`
      select count(*)::int as n from admin_audit where action = 'token' and target = 'grupo30'`;
    expect(tokens?.n).toBe(0);
    // a press of a channel post's react button by someone who never wrote to the bot registers nobody
    await app.handleUpdate({
      update_id: ++id,
      callback_query: {
        id: `q${id}`,
        from: { id: 611, is_bot: false, first_name: 'U611' },
        chat_instance: 'channel',
        data: app.gamification.reactButton('post-1').callback_data,
        message: { message_id: 1, date: 0, chat: { id: CHANNEL, type: 'channel', title: 'Canal' } },
      },
    } as Update);
    const users = createUserRepository(app.db);
    expect(await users.getByTelegramId(610)).toBeUndefined();
    expect(await users.getByTelegramId(611)).toBeUndefined();
    // in their private chat the same person is welcomed as usual
    await app.handleUpdate(message(610, '/start'));
    expect((await users.getByTelegramId(610))?.role).toBe('FREE');
    expect(String(repliesTo(610).at(-1)?.payload.text)).toContain('Lucien');
  });

  it("the user's block of the bot marks them blocked and registers nobody; a business chat's message is not the user writing", async () => {
    const users = createUserRepository(app.db);
    let id = 640_000;
    const member = (tg: number, status: 'kicked' | 'member') =>
      ({
        update_id: ++id,
        my_chat_member: {
          chat: { id: tg, type: 'private', first_name: `U${tg}` },
          from: { id: tg, is_bot: false, first_name: `U${tg}` },
          date: 0,
          old_chat_member: {
            status: status === 'kicked' ? 'member' : 'kicked',
            user: { id: 1, is_bot: true, first_name: 'Diana' },
          },
          new_chat_member:
            status === 'kicked'
              ? { status: 'kicked', until_date: 0, user: { id: 1, is_bot: true, first_name: 'Diana' } }
              : { status: 'member', user: { id: 1, is_bot: true, first_name: 'Diana' } },
        },
      }) as unknown as Update;
    await app.handleUpdate(message(641, '/start'));
    expect((await users.getByTelegramId(641))?.status).toBe('active');
    // the welcome gift's notice comes through the bus: told before the block, not counted after it
    // (on a busy machine it came after the count began: CI's Node 22 pass)
    const told = (tg: number) =>
      fake.calls.some(
        (c) =>
          c.method === 'sendMessage' &&
          c.payload.chat_id === tg &&
          String(c.payload.text).includes('regalo de bienvenida'),
      );
    expect(await until(() => told(641))).toBe(true);
    const sentBefore = fake.calls.length;
    await app.handleUpdate(member(641, 'kicked'));
    expect((await users.getByTelegramId(641))?.status).toBe('blocked'); // before: stayed active
    await app.handleUpdate(member(641, 'kicked')); // again: still blocked (before: made active, unmarked)
    await app.handleUpdate(member(641, 'member')); // unblocked: nothing until they write
    expect((await users.getByTelegramId(641))?.status).toBe('blocked');
    // blocked on first contact: nobody registered, no welcome gift, nothing sent
    await app.handleUpdate(member(642, 'kicked'));
    expect(await users.getByTelegramId(642)).toBeUndefined();
    // the other side of a business chat (a chat of type private) is not registered either
    await app.handleUpdate({
      update_id: ++id,
      business_message: {
        message_id: 1,
        date: 0,
        business_connection_id: 'bc1',
        chat: { id: 643, type: 'private', first_name: 'U643' },
        from: { id: 643, is_bot: false, first_name: 'U643' },
        text: 'hola',
      },
    } as unknown as Update);
    expect(await users.getByTelegramId(643)).toBeUndefined();
    expect(fake.calls.slice(sentBefore).filter((c) => c.method === 'sendMessage')).toEqual([]);
    // writing again makes them active
    await app.handleUpdate(message(641, '/saldo'));
    expect((await users.getByTelegramId(641))?.status).toBe('active');
  });

  it('a name the repository cannot store as it is (too long, empty, a NUL, a lone surrogate) is fitted, not an error or a write on every update', async () => {
    const users = createUserRepository(app.db);
    const withName = (tg: number, first_name: string, last_name?: string) => {
      const update = message(tg, '/start') as unknown as { message: { from: Record<string, unknown> } };
      update.message.from = { id: tg, is_bot: false, first_name, ...(last_name === undefined ? {} : { last_name }) };
      return update as unknown as Update;
    };
    // 127 letters and an emoji: 129 UTF-16 units, cut before the emoji (never half of it)
    await app.handleUpdate(withName(621, `${'a'.repeat(127)}😀`, 'b'.repeat(300)));
    await app.handleUpdate(withName(622, ''));
    await app.handleUpdate(withName(623, 'Ana\u0000Bel', '\u0000'));
    for (const tg of [621, 622, 623]) expect(String(repliesTo(tg).at(-1)?.payload.text)).toContain('Lucien');
    expect(await users.getByTelegramId(621)).toMatchObject({ first_name: 'a'.repeat(127), last_name: 'b'.repeat(128) });
    expect(await users.getByTelegramId(622)).toMatchObject({ first_name: 'usuario 622' });
    expect(await users.getByTelegramId(623)).toMatchObject({ first_name: 'AnaBel', last_name: null });
    // a lone surrogate is stored as U+FFFD; kept in the name, it never equalled the stored one
    // again and each update rewrote the row (its xmin moved at every message)
    const version = async () =>
      (await app.db.sql<{ v: string }[]>`select xmin::text as v from users where telegram_id = 624`)[0]?.v;
    await app.handleUpdate(withName(624, 'Ana\uD800', 'B\uDC00b'));
    const first = await version();
    for (let i = 0; i < 3; i++) await app.handleUpdate(withName(624, 'Ana\uD800', 'B\uDC00b'));
    expect(await version()).toBe(first);
    expect(await users.getByTelegramId(624)).toMatchObject({ first_name: 'Ana\uFFFD', last_name: 'B\uFFFDb' });
  });

  it('a name is stored and greeted on one line, without characters that show nothing (it cannot fake lines where staff read it)', async () => {
    const users = createUserRepository(app.db);
    const update = message(625, 'hola') as unknown as { message: { from: Record<string, unknown> } };
    update.message.from = {
      id: 625,
      is_bot: false,
      first_name: 'A\u00ADna\u2028Rol: Administrador\u001B[2J',
      last_name: 'G\u00F3mez\nSaldo: 99999 besitos\nVIP: s\u00ED\u{E0041}',
    };
    await app.handleUpdate(update as unknown as Update);
    // before: stored as sent, soft hyphen, U+2028 and newlines included
    expect(await users.getByTelegramId(625)).toMatchObject({
      first_name: 'Ana Rol: Administrador[2J',
      last_name: 'Gómez Saldo: 99999 besitos VIP: sí',
    });
    expect(String(repliesTo(625).at(-1)?.payload.text)).toMatch(/^¡Hola, Ana Rol: Administrador\[2J!/);
  });

  it('handles the same update_id once (webhook redelivery), counted under its own kind', async () => {
    const before = await commandsCounted('duplicate');
    const update = message(503, '/start', 77_777);
    await app.handleUpdate(update);
    await app.handleUpdate(update);
    expect(repliesTo(503)).toHaveLength(1);
    expect(await commandsCounted('duplicate')).toBe(before + 1); // before: kind="other" for a duplicate /start
  });

  it('the same update_id delivered twice at once: one handles it, the other is refused as in progress and counted', async () => {
    const inProgress = async () => {
      const line = (await get('/metrics')).text
        .split('\n')
        .find((l) => l.startsWith('diana_bot_updates_total{') && l.includes('outcome="in_progress"'));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
    };
    const before = await inProgress();
    const update = message(505, '/start', 77_778);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const both = [0, 1].map(async () => {
      await gate;
      return app.handleUpdate(update).then(
        () => 'handled',
        // grammY's BotError around the middleware's own
        (error: unknown) => (error as { error?: { code?: string } }).error?.code ?? String(error),
      );
    });
    open();
    expect((await Promise.all(both)).sort()).toEqual(['E_BOT_UPDATE_IN_PROGRESS', 'handled']);
    expect(repliesTo(505)).toHaveLength(1);
    expect(await inProgress()).toBe(before + 1); // before: the refusal (a webhook's 500) was counted nowhere
  });

  it('a 403 from Telegram marks the user blocked and stops sends to them; writing again unblocks', async () => {
    // the update counts as blocked, not as failed (the user's choice: no error, no apology)
    const [failedBefore, blockedBefore] = [await commandsCounted('error'), await commandsCounted('blocked')];
    fake.blocked.add(504);
    await app.handleUpdate(message(504, '/start'));
    expect(await commandsCounted('blocked')).toBe(blockedBefore + 1);
    expect(await commandsCounted('error')).toBe(failedBefore);
    const users = createUserRepository(app.db);
    expect((await users.getByTelegramId(504))?.status).toBe('blocked');
    const calls = fake.calls.length;
    await expect(app.bot.api.sendMessage(504, 'hola')).rejects.toThrow(/blocked/);
    expect(fake.calls.length).toBe(calls); // not even attempted
    fake.blocked.delete(504);
    await app.handleUpdate(message(504, '/historia'));
    expect((await users.getByTelegramId(504))?.status).toBe('active');
    expect(String(repliesTo(504).at(-1)?.payload.text)).toContain('Lucien');
  });

  it('the 403 mark is shared: a second bot process sends nothing to that user, and writing to it unblocks for both', async () => {
    const other = await createApp(settings, { logger: SILENT_LOGGER });
    try {
      // the other process has sent to them before: "not blocked" is in its memory
      await other.bot.api.sendMessage(508, 'antes');
      fake.blocked.add(508);
      await app.handleUpdate(message(508, '/start'));
      expect(fake.calls.some((c) => c.payload.chat_id === 508 && c.status === 403)).toBe(true);
      // from here a send that leaves is delivered: only the mark's notice, dropping that memory, stops it
      fake.blocked.delete(508);
      expect(
        await until(() =>
          other.bot.api.sendMessage(508, 'hola').then(
            () => false,
            () => true,
          ),
        ),
      ).toBe(true);
      const calls = fake.calls.length;
      await expect(other.bot.api.sendMessage(508, 'hola')).rejects.toThrow(/blocked/);
      expect(fake.calls.length).toBe(calls); // the other process did not even attempt it
      await other.handleUpdate(message(508, '/historia'));
      expect(String(repliesTo(508).at(-1)?.payload.text)).toContain('Lucien');
      // the invalidation reaches the first process: it writes to them again
      expect(
        await until(async () => {
          try {
            await app.bot.api.sendMessage(508, 'de nuevo');
            return true;
          } catch {
            return false;
          }
        }),
      ).toBe(true);
    } finally {
      await other.close({ timeout_ms: 5_000 });
    }
  });

  it('a 429 is retried after the time Telegram gives', async () => {
    // no payment notice of an earlier test still on its way: the one refused send must be this reply's
    const settled = async () => {
      const [row] = await app.db.sql<
        { n: number }[]
      >`select count(*)::int as n from event_outbox where published_at is null`;
      const { groups } = await app.bus.health();
      return (row?.n ?? 0) + groups.reduce((sum, g) => sum + g.lag + g.pending, 0) === 0;
    };
    // 505's first words register them; their welcome notice goes out before the refusal is armed
    // (else the one refused send may be that notice, racing the reply)
    await app.handleUpdate(message(505, 'hola'));
    expect(await until(settled, 15_000)).toBe(true);
    fake.tooManyRequestsOnce('sendMessage', 1, 505); // 505's next message: a send elsewhere does not take it
    const before = repliesTo(505).length;
    await app.handleUpdate(message(505, '/start'));
    expect(repliesTo(505).length - before).toBe(2); // refused once, then delivered
  });

  it('the webhook refuses a wrong or missing secret with 401 and handles the right one', async () => {
    const post = (headers: Record<string, string>) =>
      fetch(`http://127.0.0.1:${http.port}/telegram`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(message(506, '/start')),
      });
    expect((await post({ 'x-telegram-bot-api-secret-token': 'wrong' })).status).toBe(401);
    expect((await post({})).status).toBe(401);
    expect(sentTo(506)).toHaveLength(0);
    expect((await post({ 'x-telegram-bot-api-secret-token': WEBHOOK_SECRET })).status).toBe(200);
    expect(await until(() => repliesTo(506).length === 1)).toBe(true);
  });

  it('/metrics is Prometheus text with event-bus, cache and handler series, non-zero after traffic', async () => {
    expect(
      await until(async () => /diana_events_published_total\{[^}]*\} [1-9]/.test((await get('/metrics')).text)),
    ).toBe(true);
    const { status, text } = await get('/metrics');
    expect(status).toBe(200);
    for (const line of text.split('\n').filter((l) => l && !l.startsWith('#')))
      expect(line).toMatch(/^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eE]+|NaN|[+-]Inf$/);
    expect(text).toMatch(/diana_bot_updates_total\{[^}]*outcome="ok"[^}]*\} [1-9]/);
    expect(text).toMatch(/diana_bot_handler_duration_count\{[^}]*\} [1-9]/);
    // seconds: every command of this file took less than 10 s, and they average well under a second
    expect(text).toMatch(/^# UNIT diana_bot_handler_duration s$/m);
    const figure = (series: string) =>
      Number(new RegExp(`^${series}\\{kind="command"[^}]*\\} (\\S+)$`, 'm').exec(text)?.[1]);
    const count = figure('diana_bot_handler_duration_count');
    expect(count).toBeGreaterThan(0);
    expect(text).toMatch(new RegExp(`diana_bot_handler_duration_bucket\\{kind="command"[^}]*le="10"\\} ${count}\n`));
    expect(figure('diana_bot_handler_duration_sum') / count).toBeLessThan(1);
    expect(text).toMatch(/diana_cache_(hits|misses)_total\{?[^\n]*\}? [1-9]/);
  });

  it("DIANA_EVENT_BUS_MAX_LEN caps each stream (XADD's MAXLEN ~): the app passes it to the transport", async () => {
    // a type no module consumes, so that only the cap can shorten its stream
    const type = 'narrative.fragment_started';
    const payload = { user_id: 'u-max-len', fragment: 'f1', level: 1 };
    await Promise.all(Array.from({ length: 1_500 }, () => app.bus.publish(type, payload)));
    const client = new Redis(redis.url, { lazyConnect: true });
    try {
      // trimmed by whole nodes of 100 entries (stream-node-max-entries): about the cap, never all 1 500
      const length = await client.xlen(`diana:ev:{${type}}`);
      expect(length).toBeGreaterThanOrEqual(1_000);
      expect(length).toBeLessThan(1_200);
    } finally {
      client.disconnect();
    }
  });

  it('/readyz turns 503 naming redis when Redis stops, and 200 again when it is back', async () => {
    expect(await get('/healthz')).toEqual({ status: 200, text: 'ok\n' });
    // ready before the fault (polled: one ping past its 2 s on a busy machine reads 503)
    expect(await until(async () => (await get('/readyz')).status === 200)).toBe(true);
    await redis.kill();
    expect(redis.pid).toBeUndefined(); // the fault happened
    expect(await until(async () => (await get('/readyz')).status === 503)).toBe(true);
    expect((await get('/readyz')).text).toContain('redis');
    // the gauges read from Redis are skipped, not failed: /metrics still answers, within their read timeout
    const scraped = Date.now();
    expect((await get('/metrics')).status).toBe(200);
    // (the gauges wait 2 s; a scrape held by the bus's 5 s command timeout would not pass)
    expect(Date.now() - scraped).toBeLessThan(5_000);
    // the event loops say they are failing too, by name, on /readyz and as gauges
    // three failed reads in a row (each may wait out a reconnect) before a loop counts as failing
    expect(
      await until(async () => /consumer gamification [a-z_.,]+ failing/.test((await get('/readyz')).text), 40_000),
    ).toBe(true);
    expect(
      await until(async () => /broadcast [^,]*config\.changed[^,]* failing/.test((await get('/readyz')).text), 40_000),
    ).toBe(true);
    const scrape = (await get('/metrics')).text;
    expect(scrape).toMatch(/diana_loop_consecutive_failures\{[^}]*loop="consumer gamification [^"]+"[^}]*\} [1-9]/);
    // one gauge per loop: a group's loops are told apart by their types
    const labels = [...scrape.matchAll(/^diana_loop_running\{[^}]*loop="([^"]+)"/gm)].map((m) => m[1]);
    expect(labels.length).toBeGreaterThan(3);
    expect(new Set(labels).size).toBe(labels.length);
    await redis.restart();
    expect(await until(async () => (await get('/readyz')).status === 200, 15_000)).toBe(true);
    const gauges = (await get('/metrics')).text;
    expect(gauges).toMatch(/diana_loop_running\{[^}]*loop="outbox relay"[^}]*\} 1/);
    const gamification = [
      ...gauges.matchAll(/^diana_loop_consecutive_failures\{[^}]*loop="consumer gamification [^"]+"[^}]*\} (\d+)/gm),
    ].map((m) => m[1]);
    expect(gamification.length).toBeGreaterThan(0);
    expect(gamification.every((failures) => failures === '0')).toBe(true);
  }, 90_000);
});
