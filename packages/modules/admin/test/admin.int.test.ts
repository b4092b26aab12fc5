// The admin module through a real grammY bot (handleUpdate) on PostgreSQL; Telegram is a
// recording transformer; the jobs run on a manual clock.
import { CONFIG_EVENTS, CONFIG_MIGRATIONS, createConfigManager, defineTemplate } from '@diana/config';
import { createPostgres, createUserRepository, DB_MIGRATIONS, migrate, type UserRole } from '@diana/db';
import {
  createEventBus,
  createMemoryTransport,
  createOutboxRelay,
  defineEvents,
  EVENT_BUS_MIGRATIONS,
  mergeEvents,
} from '@diana/event-bus';
import { createTokenService, SECURITY_MIGRATIONS } from '@diana/security';
import {
  captureLogLines,
  createBarrier,
  createRecordingApi,
  createUpdateFactory,
  FAKE_BOT_INFO,
  until,
  useTestDatabase,
} from '@diana/test-services';
import { BESITOS_MAX, type Clock, createLogger, createManualClock } from '@diana/utils';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_EVENTS } from '../src/events.js';
import { ADMIN_MIGRATIONS } from '../src/migrations.js';
import { type AdminContext, createAdminModule } from '../src/module.js';
import { formatHumanDate, formatHumanMoment, parseLocalTime } from '../src/time.js';

// what the gamification module reports back (its schema lives with it; the fields are enough here)
const GAMIFICATION_REPORTS = defineEvents({
  'gamification.adjustment_applied': v.object({
    user_id: v.string(),
    requested: v.number(),
    applied: v.number(),
    balance: v.number(),
    actor: v.string(),
  }),
});
const testDb = await useTestDatabase('admin');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 20 });
const transport = createMemoryTransport();
const bus = createEventBus(
  { max_attempts: 1, backoff_base_ms: 10 },
  { transport, events: mergeEvents(mergeEvents(ADMIN_EVENTS, CONFIG_EVENTS), GAMIFICATION_REPORTS), db },
);
const relay = createOutboxRelay({ outbox_poll_ms: 20 }, { db, transport });
const gift = defineTemplate('gamification.daily_gift_test', {
  type: 'setting',
  schema: v.object({ amount: v.number() }),
  defaults: { amount: 10 },
});
const config = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: [gift] });
const tokens = createTokenService({ token_pepper: 't'.repeat(40) }, { db });
const clock = createManualClock(Date.parse('2026-11-26T10:00:00Z'));
const users = createUserRepository(db);
const VIP_CHANNEL = -1001;
const TEXTS_FAREWELL = 'Tu suscripción VIP ha terminado. El Diván te esperará cuando vuelvas.';
const MAIN_CHANNEL = -1002;
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, SECURITY_MIGRATIONS, CONFIG_MIGRATIONS, ADMIN_MIGRATIONS]);
  await config.start();
});
afterAll(async () => {
  await relay.close();
  await bus.close();
  await config.close();
  await db.close();
});

const api = createRecordingApi();
const calls = api.calls;
// the Telegram ids whose cached row the app was told to drop (`onRoleChanged`), in order
const roleChanges: number[] = [];
/** Run between loading the update's user and the module's handlers (what another process does meanwhile). */
let afterUserLoaded: (() => Promise<unknown>) | undefined;
/** Run when the app is told a role changed (after a cancel's commit, before its channel removal). */
let onRoleChange: (() => Promise<unknown>) | undefined;
/** A bot process: its own module instance over the shared database and bus. */
function makeBot(
  channels: { main_channel_id?: number } = { main_channel_id: MAIN_CHANNEL },
  more: { post_claim_lease_ms?: number } = {},
  processClock: Clock = clock,
) {
  const bot = new Bot<AdminContext>('0:test', { botInfo: FAKE_BOT_INFO });
  bot.api.config.use(api.transformer as never);
  const admin = createAdminModule(
    {
      vip_channel_id: VIP_CHANNEL,
      ...channels,
      post_channel_ids: [-1001234567890],
      timezone: 'Europe/Madrid',
      ...more,
    },
    {
      db,
      bus,
      config,
      tokens,
      api: () => bot.api,
      botUsername: () => 'diana_bot',
      clock: processClock,
      decoratePost: (id) => [[{ text: '💋', callback_data: `r:${id}` }]],
      onRoleChanged: async (telegram_id) => {
        roleChanges.push(telegram_id);
        await onRoleChange?.();
      },
    },
  );
  bot.use(async (ctx, next) => {
    const row = ctx.from ? await users.getByTelegramId(ctx.from.id) : undefined;
    if (row) ctx.user = { id: row.id, role: row.role, telegram_id: row.telegram_id };
    await afterUserLoaded?.();
    await next();
  });
  bot.use(admin.composer);
  bot.on('message', (ctx) => ctx.reply('(unhandled)'));
  return { bot, admin };
}
/**
 * Holds `bot`'s Telegram calls that `match` until `release()`: `reached` resolves once the first
 * is held (what a slow Telegram, or a process frozen mid-call, looks like to the others).
 */
function holdTelegram(bot: Bot<AdminContext>, match: (method: string, payload: Record<string, unknown>) => boolean) {
  let reach!: () => void;
  const reached = new Promise<void>((resolve) => {
    reach = resolve;
  });
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  bot.api.config.use(async (prev, method, payload, signal) => {
    if (match(method, payload as Record<string, unknown>)) {
      reach();
      await released;
    }
    return prev(method, payload, signal);
  });
  return { reached, release };
}
const main = makeBot();
const other = makeBot();
const updates = createUpdateFactory();
const say = (bot: Bot<AdminContext>, tg: number, text: string) => bot.handleUpdate(updates.message(tg, text) as Update);
const lastTo = (tg: number) => api.lastText(tg);
/** The bot's local time `ms` from now on the manual clock, as /programar takes it. */
const localIn = (ms: number) =>
  new Intl.DateTimeFormat('sv-SE', {
    timeZone: 'Europe/Madrid',
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  }).format(new Date(clock.now() + ms));
const userWith = async (tg: number, role: UserRole) => {
  const { user } = await users.upsertFromTelegram({ id: tg, first_name: `U${tg}`, username: `user${tg}` });
  return role === 'FREE' ? user : users.setRole(user.id, role);
};

describe('the admin module', () => {
  it('flow 5: tariff → token → redeem: subscription, role VIP, invite link, event; a second redeem is refused', async () => {
    await userWith(1, 'ADMIN');
    const fan = await userWith(2, 'FREE');
    await say(main.bot, 1, '/tarifa vip30 30 1000');
    expect(lastTo(1)).toContain('Tarifa vip30');
    await say(main.bot, 1, '/token vip30');
    const link = /https:\/\/t\.me\/diana_bot\?start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1] as string;
    expect(link).toBeDefined();
    await say(main.bot, 2, `/start ${link}`);
    expect(calls.filter((c) => c.payload.chat_id === 2).map((c) => String(c.payload.text))[0]).toContain(
      'Te damos la bienvenida al Diván',
    );
    expect(lastTo(2)).toContain('https://t.me/+invite');
    expect(calls.find((c) => c.method === 'createChatInviteLink')?.payload).toMatchObject({
      chat_id: VIP_CHANNEL,
      member_limit: 1,
    });
    expect((await users.getById(fan.id))?.role).toBe('VIP');
    expect(roleChanges.filter((tg) => tg === 2)).toEqual([2]); // the app drops its cached FREE row of them
    const [started] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from event_outbox where type = 'admin.subscription_started' and key = ${fan.id}`;
    expect(started?.n).toBe(1);
    await say(main.bot, 2, `/start ${link}`);
    expect(lastTo(2)).toBe('Este enlace ya se usó.');
    // a second link while VIP extends the subscription, and says so (not a second welcome)
    await say(main.bot, 1, '/token vip30');
    await say(main.bot, 2, `/start ${/start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1]}`);
    const [ends] = await db.sql<{ ends_at: Date }[]>`select ends_at from admin_subscriptions where user_id = ${fan.id}`;
    expect((ends?.ends_at.getTime() ?? 0) - clock.now()).toBeGreaterThan(59 * 86_400_000);
    const afterLink = calls.filter((c) => c.payload.chat_id === 2).map((c) => String(c.payload.text));
    expect(afterLink.at(-2)).toMatch(
      /^Tu suscripción VIP se amplía: ahora dura hasta el \d{1,2} de [a-z]+( de \d{4})?\.$/,
    );
    expect(afterLink.filter((t) => t.includes('bienvenida al Diván'))).toHaveLength(1);
    const audit = await db.sql<{ action: string }[]>`select action from admin_audit order by created_at`;
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['tariff', 'token', 'redeem']));
    // the audit tells the first redeem from the extension
    const redeems = await db.sql<{ extended: boolean }[]>`
      select (details->>'extended')::boolean as extended from admin_audit
      where action = 'redeem' and target = ${fan.id} order by created_at`;
    expect(redeems.map((r) => r.extended)).toEqual([false, true]);
    await say(main.bot, 1, '/auditoria');
    expect(lastTo(1)).toContain('canjeó un enlace VIP (tarifa vip30) y amplió su suscripción');
  });

  it('50 concurrent redeems of one token (two processes) → one subscription of one tariff period', async () => {
    await say(main.bot, 1, '/token vip30');
    const link = /start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1] as string;
    const people = await Promise.all(Array.from({ length: 50 }, (_, i) => userWith(100 + i, 'FREE')));
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const redeems = people.map(async (_, i) => {
      await gate;
      return say((i % 2 ? main : other).bot, 100 + i, `/start ${link}`);
    });
    open();
    await Promise.all(redeems);
    const subs = await db.sql<
      { user_id: string }[]
    >`select user_id from admin_subscriptions where user_id = any(${people.map((p) => p.id)}::uuid[])`;
    expect(subs).toHaveLength(1);
    const refused = people.filter((_, i) => lastTo(100 + i) === 'Este enlace ya se usó.');
    expect(refused).toHaveLength(49);
  });

  it('/rol and /tarifa speak Spanish: role names and decimal prices are accepted, each refusal names the wrong argument', async () => {
    await userWith(1, 'ADMIN');
    await userWith(3, 'MODERATOR');
    await userWith(60, 'FREE');
    await say(main.bot, 1, '/rol 60 moderador');
    expect(lastTo(1)).toBe('U60 (60) tiene ahora el rol «moderador».');
    expect((await users.getByTelegramId(60))?.role).toBe('MODERATOR');
    await say(main.bot, 1, '/rol 60 Creador');
    expect((await users.getByTelegramId(60))?.role).toBe('CONTENT_CREATOR');
    await say(main.bot, 1, '/rol 60 jefe');
    expect(lastTo(1)).toContain('«jefe» no es un rol');
    await say(main.bot, 1, '/rol 1 gratuito'); // their own: that is the reason, not the role's height
    expect(lastTo(1)).toBe('No puedes cambiar tu propio rol: tiene que hacerlo alguien por encima de ti.');
    expect((await users.getByTelegramId(1))?.role).toBe('ADMIN');
    // a MODERATOR may not assign roles at all: told so, not that this one role is too high
    await say(main.bot, 3, '/rol 60 vip');
    expect(lastTo(3)).toBe('No tienes permiso para hacer esto.');
    expect((await users.getByTelegramId(60))?.role).toBe('CONTENT_CREATOR');

    await say(main.bot, 1, '/tarifa Mensual 30 9,99');
    expect(lastTo(1)).toBe('Tarifa mensual: 30 días, 9,99.');
    await say(main.bot, 1, '/tarifa semanal 7 2.5');
    expect(lastTo(1)).toBe('Tarifa semanal: 7 días, 2,50.');
    await say(main.bot, 1, '/tarifa día_suelto 1 1');
    expect(lastTo(1)).toContain('El nombre de la tarifa («día_suelto»)');
    await say(main.bot, 1, '/tarifa anual un_año 99');
    expect(lastTo(1)).toBe('Los días («un_año») deben ser un número entero de 1 a 3650.');
    await say(main.bot, 1, '/tarifa anual 365 99,999');
    expect(lastTo(1)).toContain('El precio («99,999»)');
    await say(main.bot, 1, '/tarifa anual');
    expect(lastTo(1)).toContain('Uso: /tarifa <nombre> <días> <precio>');
    await say(main.bot, 1, '/token anual'); // refused above: the tariffs that exist are named
    expect(lastTo(1)).toMatch(/^No existe esa tarifa\. Las que hay: .*\bsemanal, .*\bmensual\b/);
    const rows = await db.sql<{ name: string; price_cents: string }[]>`
      select name, price_cents::text from admin_tariffs where name in ('mensual', 'semanal', 'anual') order by name`;
    expect(rows).toEqual([
      { name: 'mensual', price_cents: '999' },
      { name: 'semanal', price_cents: '250' },
    ]);
  });

  it('permissions: a MODERATOR cannot issue tokens, a FREE user gets no admin command, an ADMIN cannot make anyone ADMIN or OWNER', async () => {
    await userWith(3, 'MODERATOR');
    await userWith(4, 'FREE');
    await userWith(5, 'OWNER');
    const roleChanges = async () =>
      (await db.sql<{ n: number }[]>`select count(*)::int as n from event_outbox where type = 'admin.role_changed'`)[0]
        ?.n ?? 0;
    const changesBefore = await roleChanges();
    await say(main.bot, 3, '/token vip30');
    expect(lastTo(3)).toBe('No tienes permiso para hacer esto.');
    for (const command of ['/token vip30', '/rol 2 ADMIN', '/config', '/stats', '/dlq list x', '/besitos 2 5 regalo'])
      await say(main.bot, 4, command);
    expect(calls.filter((c) => c.payload.chat_id === 4).every((c) => c.payload.text === '(unhandled)')).toBe(true);
    await say(main.bot, 1, '/rol 4 ADMIN');
    expect(lastTo(1)).toBe('No puedes dar ese rol (ni a nadie por encima de ti).');
    await say(main.bot, 1, '/rol 4 OWNER');
    expect(lastTo(1)).toBe('No puedes dar ese rol (ni a nadie por encima de ti).');
    await say(main.bot, 1, '/rol 4 MODERATOR');
    expect((await users.getByTelegramId(4))?.role).toBe('MODERATOR');
    await say(main.bot, 5, '/rol 4 ADMIN');
    expect((await users.getByTelegramId(4))?.role).toBe('ADMIN');
    await say(main.bot, 5, '/rol 5 gratuito'); // an owner's own role comes from the settings
    expect(lastTo(5)).toContain('el de propietario viene de DIANA_BOT_OWNER_TELEGRAM_IDS');
    expect((await users.getByTelegramId(5))?.role).toBe('OWNER');
    expect((await roleChanges()) - changesBefore).toBe(2);
  });

  it('flow 6 on a manual clock: each reminder once, expiry closes VIP and says goodbye — with two processes running the job', async () => {
    const member = await userWith(6, 'FREE');
    await say(main.bot, 1, '/token vip30');
    await say(main.bot, 6, `/start ${/start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1]}`);
    const told = () => roleChanges.filter((tg) => tg === 6).length;
    expect(told()).toBe(1);
    const toMember = (text: string) => calls.filter((c) => c.payload.chat_id === 6 && c.payload.text === text).length;
    const both = () => Promise.all([main.admin.runJobs(), other.admin.runJobs(), main.admin.runJobs()]);
    const weekNotices = () =>
      calls.filter(
        (c) => c.payload.chat_id === 6 && String(c.payload.text).startsWith('Tu suscripción VIP termina en '),
      );
    await both();
    expect(weekNotices()).toHaveLength(0);
    clock.advance(23 * 86_400_000 + 3_600_000); // 6 days 23 h left
    await both();
    await both();
    expect(weekNotices().map((c) => c.payload.text)).toEqual([
      `Tu suscripción VIP termina en 7 días, el ${formatHumanDate(new Date(clock.now() + 6 * 86_400_000 + 23 * 3_600_000), 'Europe/Madrid', new Date(clock.now()))}.`,
    ]);
    clock.advance(6 * 86_400_000); // 23 h left
    await both();
    expect(
      toMember(
        `Tu suscripción VIP termina ${formatHumanMoment(new Date(clock.now() + 23 * 3_600_000), 'Europe/Madrid', new Date(clock.now()))}.`,
      ),
    ).toBe(1);
    expect(weekNotices()).toHaveLength(1);
    clock.advance(86_400_000); // past the end
    await both();
    await both();
    expect(toMember('Tu suscripción VIP ha terminado. El Diván te esperará cuando vuelvas.')).toBe(1);
    expect((await users.getById(member.id))?.role).toBe('FREE');
    expect(told()).toBe(2); // and its cached VIP row at the expiry (once, by the process that expired it)
    expect(calls.filter((c) => c.method === 'banChatMember' && c.payload.user_id === 6)).toHaveLength(1);
    const [expired] = await db.sql<
      { status: string }[]
    >`select status from admin_subscriptions where user_id = ${member.id}`;
    expect(expired?.status).toBe('expired');
  });

  it('/cancelar_vip ends a running subscription at once: FREE, out of the channel, told, audited, the story told; a new link starts from now', async () => {
    await userWith(17, 'FREE');
    await userWith(18, 'MODERATOR');
    await say(main.bot, 1, '/token vip30');
    await say(main.bot, 17, `/start ${/start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1]}`);
    const member = await users.getByTelegramId(17);
    expect(member?.role).toBe('VIP');
    await say(main.bot, 18, '/cancelar_vip 17 reembolso');
    expect(lastTo(18)).toBe('No tienes permiso para hacer esto.');
    await say(main.bot, 1, '/cancelar_vip 17');
    expect(lastTo(1)).toBe('Uso: /cancelar_vip <id> <motivo>');
    const changesBefore = roleChanges.length;
    await say(main.bot, 1, '/cancelar_vip 17 reembolso pedido');
    expect(lastTo(1)).toMatch(
      /^Cancelada la suscripción VIP de U17 \(17\) \(iba hasta el \d{1,2} de [a-z]+( de \d{4})?\); ya no es VIP y sale del canal\.$/,
    );
    expect(lastTo(17)).toBe('Tu suscripción VIP se ha cancelado. Si crees que es un error, escribe a quien te la dio.');
    expect((await users.getByTelegramId(17))?.role).toBe('FREE');
    expect(roleChanges.slice(changesBefore)).toEqual([17]);
    expect(calls.filter((c) => c.method === 'banChatMember' && c.payload.user_id === 17)).toHaveLength(1);
    const [sub] = await db.sql<
      { status: string }[]
    >`select status from admin_subscriptions where user_id = ${member?.id as string}`;
    expect(sub?.status).toBe('cancelled');
    const [audit] = await db.sql<{ reason: string }[]>`
      select reason from admin_audit where action = 'subscription_cancelled' and target = ${member?.id as string}`;
    expect(audit?.reason).toBe('reembolso pedido');
    const [ended] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from event_outbox where type = 'admin.subscription_expired' and key = ${member?.id as string}`;
    expect(ended?.n).toBe(1);
    expect(await main.admin.subscription(member?.id as string)).toBeUndefined();
    // once: nothing runs now; the jobs leave it alone (no farewell, no second removal)
    await say(main.bot, 1, '/cancelar_vip 17 otra vez');
    expect(lastTo(1)).toBe('U17 (17) no tiene una suscripción VIP en curso.');
    await main.admin.runJobs();
    expect(
      calls.filter((c) => c.payload.chat_id === 17 && String(c.payload.text).includes('ha terminado')),
    ).toHaveLength(0);
    // a new link starts a fresh period from now: the cancelled days are not given back
    await say(main.bot, 1, '/token vip30');
    await say(main.bot, 17, `/start ${/start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1]}`);
    const [again] = await db.sql<{ status: string; ends_at: Date }[]>`
      select status, ends_at from admin_subscriptions where user_id = ${member?.id as string}`;
    expect(again?.status).toBe('active');
    expect(Math.abs((again?.ends_at.getTime() ?? 0) - (clock.now() + 30 * 86_400_000))).toBeLessThan(1_000);
    expect((await users.getByTelegramId(17))?.role).toBe('VIP');
  });

  it('a renewal the moment another process expires the subscription leaves the member VIP (the role decided on the locked row)', async () => {
    await userWith(19, 'FREE');
    await say(main.bot, 1, '/token vip30');
    await say(main.bot, 19, `/start ${/start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1]}`);
    expect((await users.getByTelegramId(19))?.role).toBe('VIP');
    await say(main.bot, 1, '/token vip30');
    const renewal = /start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1];
    clock.advance(30 * 86_400_000 + 60_000); // the period is over; no pass has run yet
    let expired = 0;
    afterUserLoaded = async () => {
      afterUserLoaded = undefined;
      expired = (await other.admin.runJobs()).expired; // the update loaded the member as VIP
    };
    await say(main.bot, 19, `/start ${renewal}`);
    expect(expired).toBeGreaterThanOrEqual(1); // the expiry did run in between
    const member = await users.getByTelegramId(19);
    const [sub] = await db.sql<
      { status: string }[]
    >`select status from admin_subscriptions where user_id = ${member?.id as string}`;
    expect(sub?.status).toBe('active');
    expect(member?.role).toBe('VIP'); // before: FREE for the whole renewed period
  });

  describe('what the VIP channel is owed is done once Telegram takes it', () => {
    /** A bot whose Telegram fails `method` for `user` the next `times` calls (0: not at all). */
    const failing = (method: string, user: number, error: { error_code: number; description: string }) => {
      const bot = makeBot();
      const state = { times: 0, failed: 0 };
      bot.bot.api.config.use(async (prev, m, payload, signal) => {
        const p = payload as { user_id?: number; chat_id?: number };
        // an invite link names no user: it fails whoever redeems through this bot meanwhile
        const target = method === 'createChatInviteLink' || p.user_id === user;
        if (m === method && target && state.times > 0) {
          state.times--;
          state.failed++;
          return { ok: false, ...error };
        }
        return prev(m, payload, signal);
      });
      return { ...bot, state };
    };
    const redeem = async (bot: Bot<AdminContext>, tg: number) => {
      await say(main.bot, 1, '/token vip30');
      await say(bot, tg, `/start ${/start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1]}`);
    };
    const dues = async (tg: number) =>
      (
        await db.sql<{ removal_due: boolean; removal_attempts: number; invite_due: boolean }[]>`
          select s.removal_due_at is not null as removal_due, s.removal_attempts, s.invite_due_at is not null as invite_due
          from admin_subscriptions s join users u on u.id = s.user_id where u.telegram_id = ${tg}`
      )[0];
    const bans = (tg: number) => calls.filter((c) => c.method === 'banChatMember' && c.payload.user_id === tg).length;
    const unbans = (tg: number) =>
      calls.filter((c) => c.method === 'unbanChatMember' && c.payload.user_id === tg).length;
    /** The invite links sent to `tg`, in order. */
    const inviteLinks = (tg: number) =>
      calls
        .filter((c) => c.payload.chat_id === tg && String(c.payload.text).startsWith('Tu invitación al canal VIP (un'))
        .map((c) => /https:\/\/t\.me\/\S+/.exec(String(c.payload.text))?.[0]);
    const revoked = () => calls.filter((c) => c.method === 'revokeChatInviteLink').map((c) => c.payload.invite_link);

    it('a removal Telegram fails (cancel, expiry) is tried again by later passes, staff told it is pending', async () => {
      await userWith(21, 'FREE');
      await userWith(22, 'FREE');
      const cancel = failing('banChatMember', 21, { error_code: 502, description: 'Bad Gateway' });
      await redeem(main.bot, 21);
      cancel.state.times = 1;
      // before: "sale del canal", and no removal was ever tried again
      await say(cancel.bot, 1, '/cancelar_vip 21 reembolso');
      expect(cancel.state.failed).toBe(1);
      expect(lastTo(1)).toMatch(
        /; ya no es VIP y Telegram no me ha dejado sacarle del canal todavía: lo reintento cada pocos minutos\.$/,
      );
      expect(await dues(21)).toMatchObject({ removal_due: true, removal_attempts: 1 });
      expect((await main.admin.runJobs()).removed).toBe(0); // not due yet: a minute after the failure
      clock.advance(61_000);
      expect((await main.admin.runJobs()).removed).toBe(1);
      expect([bans(21), unbans(21)]).toEqual([1, 1]); // the try that worked (the failed one is not recorded)
      expect(await dues(21)).toMatchObject({ removal_due: false, removal_attempts: 0 });

      // an expiry whose removal fails twice (the bot lost its rights): each failure waits longer
      const expiry = failing('banChatMember', 22, { error_code: 400, description: 'Bad Request: not enough rights' });
      await redeem(main.bot, 22);
      expiry.state.times = 2;
      clock.advance(30 * 86_400_000 + 60_000);
      expect((await expiry.admin.runJobs()).expired).toBeGreaterThanOrEqual(1);
      expect(await dues(22)).toMatchObject({ removal_due: true, removal_attempts: 1 });
      clock.advance(61_000);
      expect((await expiry.admin.runJobs()).removed).toBe(0); // failed again: now two minutes
      expect(await dues(22)).toMatchObject({ removal_due: true, removal_attempts: 2 });
      clock.advance(61_000);
      expect((await expiry.admin.runJobs()).removed).toBe(0);
      clock.advance(60_000);
      expect((await expiry.admin.runJobs()).removed).toBe(1);
      expect(expiry.state.failed).toBe(2);
      expect([bans(22), unbans(22)]).toEqual([1, 1]);
      expect(await dues(22)).toMatchObject({ removal_due: false });
      // told goodbye once, at the expiry
      expect(
        calls.filter((c) => c.payload.chat_id === 22 && String(c.payload.text).includes('ha terminado')),
      ).toHaveLength(1);
    });

    it('a member who renews while the expiry pass works through its list keeps the channel and gets no farewell', async () => {
      await userWith(23, 'FREE');
      await userWith(24, 'FREE');
      await redeem(main.bot, 24); // ends first: the pass reaches 24 before 23
      clock.advance(60_000);
      await redeem(main.bot, 23);
      await say(main.bot, 1, '/token vip30');
      const renewal = /start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1] as string;
      clock.advance(30 * 86_400_000 + 120_000); // both ended; the pass reads both
      const slow = makeBot();
      // while the pass removes 24, member 23 renews in another process (Telegram's answers take
      // seconds for a hundred members); the renewal runs here, outside the pass's transaction
      const held = holdTelegram(slow.bot, (m, payload) => m === 'banChatMember' && payload.user_id === 24);
      const passing = slow.admin.runJobs();
      await held.reached;
      await say(main.bot, 23, `/start ${renewal}`);
      held.release();
      const pass = await passing;
      expect(pass.expired).toBeGreaterThanOrEqual(2); // the pass had 23 in its list
      // before: 23 banned and told "ha terminado" seconds after their renewal's welcome
      expect(bans(23)).toBe(0);
      expect(
        calls.filter((c) => c.payload.chat_id === 23 && String(c.payload.text).includes('ha terminado')),
      ).toHaveLength(0);
      expect(bans(24)).toBe(1);
      expect(
        calls.filter((c) => c.payload.chat_id === 24 && String(c.payload.text).includes('ha terminado')),
      ).toHaveLength(1);
      expect((await users.getByTelegramId(23))?.role).toBe('VIP');
      expect(await dues(23)).toMatchObject({ removal_due: false });
    });

    /** VIP members (Telegram ids) whose subscriptions end a second from now. */
    const expiringSoon = async (members: readonly number[]) => {
      await userWith(1, 'ADMIN');
      await say(main.bot, 1, '/tarifa vip30 30 1000'); // when run alone (it exists already otherwise)
      for (const tg of members) {
        await userWith(tg, 'FREE');
        await redeem(main.bot, tg);
      }
      await db.sql`
        update admin_subscriptions s set ends_at = ${new Date(clock.now() + 1_000)}
        from users u where u.id = s.user_id and u.telegram_id = any(${members}::bigint[])`;
    };
    /** Lets the removal claims still live lapse, as a minute on PostgreSQL's clock does. */
    const lapseRemovalClaims = () =>
      db.sql`update admin_subscriptions set removal_claimed_until = clock_timestamp() where removal_claimed_until is not null`;
    const farewells = (tg: number) =>
      calls.filter((c) => c.payload.chat_id === tg && c.payload.text === TEXTS_FAREWELL).length;

    it('PostgreSQL dropping the connection during one removal costs no member their farewell nor their cached role', async () => {
      const members = [41, 42, 43];
      await expiringSoon(members);
      const dropping = makeBot();
      let dropped = 0;
      let holding: Promise<void> | undefined;
      dropping.bot.api.config.use(async (prev, m, payload, signal) => {
        const result = await prev(m, payload, signal);
        if (m === 'unbanChatMember' && holding === undefined) {
          // the removal's last write waits on its row, held here, and its connection is dropped
          // while it waits
          const holder = await db.sql.reserve();
          const user_id = (await users.getByTelegramId((payload as { user_id: number }).user_id))?.id as string;
          await holder`begin`;
          await holder`select 1 from admin_subscriptions where user_id = ${user_id} for update`;
          holding = (async () => {
            try {
              const waiting = (what: string) => db.sql`
                select ${db.sql.unsafe(what)} from pg_stat_activity
                where datname = current_database() and wait_event_type = 'Lock' and query like '%removal_claimed_until = null%'`;
              await until(async () => (await waiting('pid')).length === 1, 10_000);
              dropped = (await waiting('pg_terminate_backend(pid)')).length;
            } finally {
              await holder`commit`;
              holder.release();
            }
          })();
        }
        return result;
      });
      const changesBefore = roleChanges.length;
      clock.advance(10_000);
      // before: the pass rejected with CONNECTION_CLOSED, and no later pass ever said goodbye
      const pass = await dropping.admin.runJobs();
      await holding;
      expect(dropped).toBe(1);
      expect(pass.expired).toBe(3);
      await lapseRemovalClaims(); // the dropped removal's claim
      for (let i = 0; i < 3; i++) {
        clock.advance(61_000);
        await dropping.admin.runJobs();
      }
      expect(members.map(farewells)).toEqual([1, 1, 1]);
      expect(roleChanges.slice(changesBefore).sort()).toEqual(members);
      for (const tg of members) {
        expect((await users.getByTelegramId(tg))?.role).toBe('FREE');
        expect(unbans(tg), String(tg)).toBeGreaterThanOrEqual(1); // out of the channel (the dropped one again)
        expect(await dues(tg)).toMatchObject({ removal_due: false });
      }
      const [owed] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from admin_subscriptions where farewell_due_at is not null`;
      expect(owed?.n).toBe(0);
      await dropping.admin.close();
    });

    it('a process stopped in the middle of an expiry pass leaves the farewells owed: another process sends them, each once', async () => {
      const members = [44, 45, 46];
      await expiringSoon(members);
      // this process stops at its first removal, its claim live
      const dying = makeBot();
      let first: number | undefined;
      const { reached: atRemoval, release } = holdTelegram(dying.bot, (m, payload) => {
        if (m !== 'banChatMember' || first !== undefined) return false;
        first = payload.user_id as number;
        return true;
      });
      const changesBefore = roleChanges.length;
      clock.advance(10_000);
      const passing = dying.admin.runJobs();
      await atRemoval;
      // the farewells are the expiring pass's own for a minute; then any pass sends those owed
      await main.admin.runJobs();
      expect(members.map(farewells)).toEqual([0, 0, 0]);
      clock.advance(61_000);
      await main.admin.runJobs();
      // before: nobody but the stopped pass knew these were owed — no farewell, ever
      expect(members.map(farewells)).toEqual([1, 1, 1]);
      // and the app dropped each one's cached VIP row (the stopped pass only the first's)
      expect(new Set(roleChanges.slice(changesBefore))).toEqual(new Set(members));
      for (const tg of members) expect((await users.getByTelegramId(tg))?.role).toBe('FREE');
      // the others are out; the stopped pass's member once its claim lapses
      for (const tg of members) expect(bans(tg), String(tg)).toBe(tg === first ? 0 : 1);
      await lapseRemovalClaims();
      expect((await main.admin.runJobs()).removed).toBe(1);
      expect(unbans(first as number)).toBe(1);
      // the stopped process, let go, says no second goodbye
      release();
      await passing;
      clock.advance(61_000);
      await main.admin.runJobs();
      expect(members.map(farewells)).toEqual([1, 1, 1]);
      for (const tg of members) expect(await dues(tg)).toMatchObject({ removal_due: false });
      await dying.admin.close();
    });

    it('a removal holds no transaction while Telegram answers; a sweep elsewhere removes nobody twice; a renewal meanwhile gets its link after', async () => {
      await userWith(47, 'FREE');
      await redeem(main.bot, 47);
      const first = inviteLinks(47).at(-1);
      expect(first).toBeDefined();
      await say(main.bot, 1, '/token vip30');
      const renewal = /start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1] as string;
      clock.advance(30 * 86_400_000 + 60_000);
      const slow = makeBot();
      const held = holdTelegram(slow.bot, (m, payload) => m === 'banChatMember' && payload.user_id === 47);
      const passing = slow.admin.runJobs();
      await held.reached; // the expiry's removal asked Telegram, which has not answered
      // before: its transaction stayed open, holding a connection (the embedded database's only
      // one), and every other update waited for Telegram
      const [open] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and state like 'idle in transaction%' and query like '%admin_subscriptions%'`;
      expect(open?.n).toBe(0);
      expect(await dues(47)).toMatchObject({ removal_due: true });
      expect((await other.admin.runJobs()).removed).toBe(0); // the claim is live
      // the member renews meanwhile: the link waits for the removal, which would undo it
      await say(main.bot, 47, `/start ${renewal}`);
      expect(inviteLinks(47)).toEqual([first]);
      held.release();
      await passing;
      expect([bans(47), unbans(47)]).toEqual([1, 1]);
      // the renewal's link is sent after the removal (the one before expired with the
      // subscription it was made for: nothing to revoke)
      expect(revoked()).not.toContain(first);
      expect(inviteLinks(47)).toHaveLength(2);
      const order = calls.map((c) => c.method).filter((m) => m === 'unbanChatMember' || m === 'createChatInviteLink');
      expect(order.lastIndexOf('createChatInviteLink')).toBeGreaterThan(order.lastIndexOf('unbanChatMember'));
      expect(farewells(47)).toBe(0);
      expect((await users.getByTelegramId(47))?.role).toBe('VIP');
      expect(await dues(47)).toMatchObject({ removal_due: false, invite_due: false });
      clock.advance(61_000);
      await other.admin.runJobs();
      expect(inviteLinks(47)).toHaveLength(2);
      expect(farewells(47)).toBe(0);
      await slow.admin.close();
    });

    it('a renewal during a removal whose unban then fails is unbanned by a later pass, then sent its link', async () => {
      await userWith(53, 'FREE');
      await redeem(main.bot, 53);
      await say(main.bot, 1, '/token vip30');
      const renewal = /start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1] as string;
      clock.advance(30 * 86_400_000 + 60_000);
      const slow = makeBot();
      let unbanFails = 1;
      slow.bot.api.config.use(async (prev, m, payload, signal) =>
        m === 'unbanChatMember' && (payload as { user_id?: number }).user_id === 53 && unbanFails-- > 0
          ? { ok: false, error_code: 502, description: 'Bad Gateway' }
          : prev(m, payload, signal),
      );
      const held = holdTelegram(slow.bot, (m, payload) => m === 'banChatMember' && payload.user_id === 53);
      const passing = slow.admin.runJobs();
      await held.reached; // the expiry's ban is on its way
      await say(main.bot, 53, `/start ${renewal}`);
      held.release();
      await passing;
      // the ban went through, the unban did not: the paying member is out and cannot come back
      expect([bans(53), unbans(53)]).toEqual([1, 0]);
      // before: nothing owed once the row was active again — banned for good
      expect(await dues(53)).toMatchObject({ removal_due: true });
      clock.advance(61_000);
      await main.admin.runJobs();
      expect([bans(53), unbans(53)]).toEqual([1, 1]); // the unban alone, no second ban
      expect(await dues(53)).toMatchObject({ removal_due: false, invite_due: false });
      // and the renewal's link after it
      const order = calls
        .filter((c) => c.payload.user_id === 53 || c.payload.chat_id === 53)
        .map((c) => (c.method === 'sendMessage' ? String(c.payload.text).slice(0, 30) : c.method));
      expect(order.lastIndexOf('Tu invitación al canal VIP (un')).toBeGreaterThan(order.lastIndexOf('unbanChatMember'));
      expect((await users.getByTelegramId(53))?.role).toBe('VIP');
      expect(farewells(53)).toBe(0);
      await slow.admin.close();
    });

    it("a member's link not used is revoked when they are taken out, or sent a new one: one live link at a time", async () => {
      await userWith(48, 'FREE');
      await redeem(main.bot, 48);
      const sent = inviteLinks(48);
      // a renewal's new link: the one before is revoked first
      await redeem(main.bot, 48);
      expect(inviteLinks(48)).toHaveLength(2);
      expect(revoked()).toContain(sent[0]);
      // before: the cancelled member's link let them (or whoever they gave it to) in again until
      // the subscription's original end
      const latest = inviteLinks(48).at(-1) as string;
      expect(revoked()).not.toContain(latest);
      await say(main.bot, 1, '/cancelar_vip 48 reembolso');
      expect(revoked()).toContain(latest);
      const methods = calls.map((c) => c.method);
      expect(methods.lastIndexOf('revokeChatInviteLink')).toBeLessThan(methods.lastIndexOf('banChatMember'));
      expect([bans(48), unbans(48)]).toEqual([1, 1]);
      const [row] = await db.sql<{ link: string | null }[]>`
        select s.invite_link as link from admin_subscriptions s join users u on u.id = s.user_id where u.telegram_id = 48`;
      expect(row?.link).toBeNull();
    });

    it("a renewal that commits while a cancel's removal waits for the row keeps the member in, untold of any cancel", async () => {
      const member = await userWith(49, 'FREE');
      await redeem(main.bot, 49);
      let waited = false;
      let committing: Promise<void> | undefined;
      onRoleChange = async () => {
        onRoleChange = undefined;
        // the cancel has committed; a renewal writes the row and holds it, uncommitted
        const holder = await db.sql.reserve();
        await holder`begin`;
        await holder`
          update admin_subscriptions set status = 'active', expired_at = null, removal_due_at = null
          where user_id = ${member.id}`;
        committing = (async () => {
          try {
            waited = await until(
              async () =>
                (
                  await db.sql`
                    select 1 from pg_stat_activity
                    where datname = current_database() and wait_event_type = 'Lock'
                      and query like '%set removal_claimed_until = clock_timestamp()%'`
                ).length === 1,
            );
          } finally {
            await holder`commit`;
            holder.release();
          }
        })();
      };
      await say(main.bot, 1, '/cancelar_vip 49 reembolso');
      await committing;
      expect(waited).toBe(true); // the removal's claim did wait for the renewal
      // before: the claim's statement read the row as it was before it waited ("later"), and the
      // renewed member was told "Tu suscripción VIP se ha cancelado"
      expect(
        calls.filter((c) => c.payload.chat_id === 49 && String(c.payload.text).includes('se ha cancelado')),
      ).toEqual([]);
      expect(bans(49)).toBe(0);
      expect(lastTo(1)).not.toMatch(/sale del canal/);
    });

    it("a process that dies with a member's new link in hand leaves it on the row: the next invite revokes it", async () => {
      await userWith(50, 'FREE');
      await redeem(main.bot, 50);
      const [before] = await db.sql<{ link: string }[]>`
        select s.invite_link as link from admin_subscriptions s join users u on u.id = s.user_id where u.telegram_id = 50`;
      const dying = makeBot();
      dying.bot.api.config.use(async (prev, m, payload, signal) => {
        // the link is created; the process dies before it is sent
        if (m === 'sendMessage' && String((payload as { text?: string }).text).startsWith('Tu invitación'))
          return new Promise<never>(() => {});
        return prev(m, payload, signal);
      });
      void redeem(dying.bot, 50); // a renewal: its new link, never sent nor settled
      const stored = async () =>
        (
          await db.sql<{ link: string | null }[]>`
            select s.invite_link as link from admin_subscriptions s join users u on u.id = s.user_id where u.telegram_id = 50`
        )[0]?.link;
      // before: the link was written only once sent — this one, live, was never revoked
      expect(await until(async () => (await stored()) !== before?.link)).toBe(true);
      const lost = (await stored()) as string;
      expect(revoked()).toContain(before?.link);
      await db.sql`update admin_subscriptions set invite_claimed_until = clock_timestamp() where invite_claimed_until is not null`;
      clock.advance(61_000);
      expect((await main.admin.runJobs()).invited).toBe(1);
      expect(revoked()).toContain(lost);
      expect(inviteLinks(50)).toHaveLength(2); // the first redeem's and this one's
    });

    it("a revoke Telegram refuses for the bot's rights keeps the removal, or the invite, owed", async () => {
      await userWith(51, 'FREE');
      await redeem(main.bot, 51);
      const refusals: Array<{ error_code: number; description: string }> = [];
      const rightless = makeBot();
      rightless.bot.api.config.use(async (prev, m, payload, signal) => {
        const refusal = m === 'revokeChatInviteLink' ? refusals.shift() : undefined;
        return refusal ? { ok: false, ...refusal } : prev(m, payload, signal);
      });
      // a renewal's link, the old one not revocable (the bot is not in the channel): owed still
      refusals.push({ error_code: 403, description: 'Forbidden: bot is not a member of the channel chat' });
      const linksBefore = inviteLinks(51).length;
      await redeem(rightless.bot, 51);
      // before: taken for a member who blocked the bot — nothing owed, no link ever
      expect(await dues(51)).toMatchObject({ invite_due: true });
      expect(lastTo(51)).toMatch(/te la envío aquí en cuanto Telegram/);
      clock.advance(61_000);
      expect((await rightless.admin.runJobs()).invited).toBe(1);
      expect(inviteLinks(51)).toHaveLength(linksBefore + 1);
      // a cancel whose link Telegram will not revoke (no right to manage links)
      refusals.push({ error_code: 400, description: 'Bad Request: CHAT_ADMIN_REQUIRED' });
      await say(rightless.bot, 1, '/cancelar_vip 51 reembolso');
      // before: "sale del canal", nothing owed, the unused link live until the original end
      expect(lastTo(1)).toMatch(/Telegram no me ha dejado sacarle del canal todavía/);
      expect(await dues(51)).toMatchObject({ removal_due: true, removal_attempts: 1 });
      const link = inviteLinks(51).at(-1);
      clock.advance(61_000);
      expect((await rightless.admin.runJobs()).removed).toBe(1);
      expect(revoked()).toContain(link);
      // one Telegram no longer knows (expired, revoked) leaves nothing to revoke
      await userWith(52, 'FREE');
      await redeem(main.bot, 52);
      refusals.push({ error_code: 400, description: 'Bad Request: INVITE_HASH_EXPIRED' });
      await say(rightless.bot, 1, '/cancelar_vip 52 reembolso');
      expect(lastTo(1)).toMatch(/sale del canal\.$/);
      expect(await dues(52)).toMatchObject({ removal_due: false });
      await rightless.admin.close();
    });

    it('an invite link Telegram refuses is owed: the member is told it follows, and a later pass sends it once', async () => {
      await userWith(25, 'FREE');
      await userWith(26, 'FREE');
      const refusing = failing('createChatInviteLink', 25, {
        error_code: 400,
        description: 'Bad Request: not enough rights to create an invite link',
      });
      refusing.state.times = 1;
      // before: the error boundary's "Algo salió mal", then "Este enlace ya se usó" on the retry
      await redeem(refusing.bot, 25);
      expect(refusing.state.failed).toBe(1);
      expect(lastTo(25)).toBe(
        'Tu invitación al canal VIP no se ha podido crear ahora mismo: te la envío aquí en cuanto Telegram la dé.',
      );
      expect((await users.getByTelegramId(25))?.role).toBe('VIP');
      expect(await dues(25)).toMatchObject({ invite_due: true });
      const links = (tg: number) =>
        calls.filter(
          (c) => c.payload.chat_id === tg && String(c.payload.text).startsWith('Tu invitación al canal VIP (un'),
        );
      expect((await main.admin.runJobs()).invited).toBe(0); // the redeem's own try has a minute
      clock.advance(61_000);
      expect((await main.admin.runJobs()).invited).toBe(1);
      expect(links(25)).toHaveLength(1);
      expect(await dues(25)).toMatchObject({ invite_due: false });
      await main.admin.runJobs();
      expect(links(25)).toHaveLength(1);
      // a link sent at the redeem is owed no more: the jobs send no second one
      await redeem(main.bot, 26);
      expect(links(26)).toHaveLength(1);
      clock.advance(61_000);
      await main.admin.runJobs();
      expect(links(26)).toHaveLength(1);
    });

    it('calls Telegram keeps refusing are listed by /stats with its answer from their fifth try, and leave it once they go through', async () => {
      await userWith(2_601, 'FREE');
      await userWith(2_602, 'FREE');
      const stats = async () => {
        await say(main.bot, 1, '/stats');
        return lastTo(1);
      };
      /** Runs `bot`'s jobs at each wait of the retry curve after a first failure (1, 2, 4 and 8 minutes). */
      const retried = async (bot: ReturnType<typeof failing>) => {
        for (const minutes of [1, 2, 4, 8]) {
          clock.advance(minutes * 60_000 + 1_000);
          await bot.admin.runJobs();
        }
      };
      // a member Telegram will not ban (the channel's owner): before, only the logs said why
      await redeem(main.bot, 2_601);
      const owner = failing('banChatMember', 2_601, {
        error_code: 400,
        description: "Bad Request: can't remove chat owner",
      });
      owner.state.times = 5;
      await say(owner.bot, 1, '/cancelar_vip 2601 reembolso'); // the first try
      clock.advance(60_000 + 1_000);
      await owner.admin.runJobs();
      await owner.admin.runJobs(); // not due again yet: still two tries
      expect(owner.state.failed).toBe(2);
      expect(await stats()).not.toContain('Canal VIP'); // a passing fault is not staff's yet
      for (const minutes of [2, 4, 8]) {
        clock.advance(minutes * 60_000 + 1_000);
        await owner.admin.runJobs();
      }
      expect(owner.state.failed).toBe(5);
      expect(await dues(2_601)).toMatchObject({ removal_due: true, removal_attempts: 5 });
      expect(await stats()).toContain(
        "Canal VIP: Telegram rechaza 1 llamada una y otra vez (se siguen reintentando, como mucho cada hora; ¿le faltan permisos al bot en el canal?):\n• sacar a 2601, 5 intentos: 400: Bad Request: can't remove chat owner",
      );
      // an invite link the bot has no right to create, five times: listed beside it
      const noRights = failing('createChatInviteLink', 2_602, {
        error_code: 400,
        description: 'Bad Request: not enough rights to manage chat invite links',
      });
      noRights.state.times = 5;
      await redeem(noRights.bot, 2_602); // the first try
      await retried(noRights);
      expect(noRights.state.failed).toBe(5);
      expect(owner.state.failed).toBe(5); // the removal waits out its 16 minutes meanwhile
      const both = await stats();
      expect(both).toContain('Canal VIP: Telegram rechaza 2 llamadas una y otra vez');
      expect(both).toContain("• sacar a 2601, 5 intentos: 400: Bad Request: can't remove chat owner");
      expect(both).toContain(
        '• invitar a 2602, 5 intentos: 400: Bad Request: not enough rights to manage chat invite links',
      );
      // a process with no VIP channel makes no channel calls: it lists none
      const noChannel = makeBot({ main_channel_id: MAIN_CHANNEL, vip_channel_id: undefined } as never);
      await say(noChannel.bot, 1, '/stats');
      expect(lastTo(1)).not.toContain('Canal VIP');
      // once Telegram takes them (staff fixed the bot's rights), they leave /stats, their answers cleared
      clock.advance(16 * 60_000 + 1_000);
      expect(await main.admin.runJobs()).toMatchObject({ removed: 1, invited: 1 });
      expect(await stats()).not.toContain('Canal VIP');
      const [row] = await db.sql<{ removal_error: string | null; invite_error: string | null }[]>`
        select (select removal_error from admin_subscriptions s join users u on u.id = s.user_id where u.telegram_id = 2601),
               (select invite_error from admin_subscriptions s join users u on u.id = s.user_id where u.telegram_id = 2602)`;
      expect(row).toEqual({ removal_error: null, invite_error: null });
      // a member cancelled while their invite is refused is owed none: it leaves /stats at once (a
      // first version listed it until the jobs reached the row, up to an hour later)
      await userWith(2_603, 'FREE');
      noRights.state.times = 5;
      await redeem(noRights.bot, 2_603);
      await retried(noRights);
      expect(await stats()).toContain('• invitar a 2603, 5 intentos: 400: Bad Request: not enough rights');
      await say(main.bot, 1, '/cancelar_vip 2603 reembolso');
      expect(await stats()).not.toContain('Canal VIP');
      // more than five: the most tried five are listed, and how many more there are
      for (let i = 0; i < 7; i++) {
        const user = await userWith(2_610 + i, 'FREE');
        await db.sql`
          insert into admin_subscriptions (user_id, tariff_id, started_at, ends_at, status, removal_due_at, removal_attempts, removal_error)
          select ${user.id}, tariff_id, started_at, ends_at, 'expired', now(), ${5 + i}, ${`400: refused ${i}`}
          from admin_subscriptions s join users u on u.id = s.user_id where u.telegram_id = 2602`;
      }
      const many = await stats();
      expect(many).toContain('Canal VIP: Telegram rechaza 7 llamadas una y otra vez');
      expect(many).toContain('• sacar a 2616, 11 intentos: 400: refused 6\n• sacar a 2615, 10 intentos');
      expect(many).toContain('• sacar a 2612, 7 intentos: 400: refused 2\n… y 2 más');
      expect(many).not.toContain('2611');
      await db.sql`delete from admin_subscriptions s using users u where u.id = s.user_id and u.telegram_id between 2610 and 2616`;
    });

    it("a redeem whose invite link is slow in coming gets one link, holding no transaction: another process's sweep (its clock a minute ahead) does not send a second", async () => {
      await userWith(28, 'FREE');
      const slow = makeBot();
      const held = holdTelegram(slow.bot, (m) => m === 'createChatInviteLink');
      const ahead = makeBot(undefined, {}, { now: () => clock.now() + 61_000 });
      const createdBefore = calls.filter((c) => c.method === 'createChatInviteLink').length;
      const redeeming = redeem(slow.bot, 28);
      await held.reached; // the redeem asked Telegram for the link, which has not answered
      // no transaction stays open for the call: it held a connection (the embedded database's
      // only one), and every other update waited for Telegram
      const openTransactions = await db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and state like 'idle in transaction%' and query like '%admin_subscriptions%'`;
      expect(openTransactions[0]?.n).toBe(0);
      // before: past the redeem's grace on its own clock, this pass created and sent a second link
      expect((await ahead.admin.runJobs()).invited).toBe(0);
      held.release();
      await redeeming;
      expect(calls.filter((c) => c.method === 'createChatInviteLink').length - createdBefore).toBe(1);
      const links = calls.filter(
        (c) => c.payload.chat_id === 28 && String(c.payload.text).startsWith('Tu invitación al canal VIP (un'),
      );
      expect(links).toHaveLength(1);
      expect(await dues(28)).toMatchObject({ invite_due: false });
      await ahead.admin.runJobs();
      expect(calls.filter((c) => c.method === 'createChatInviteLink').length - createdBefore).toBe(1);
      await Promise.all([slow.admin.close(), ahead.admin.close()]);
    });

    it('two links redeemed at once by one member: one welcome and one extension, told and audited so, 60 days', async () => {
      const member = await userWith(27, 'FREE');
      await redeem(main.bot, 27);
      clock.advance(30 * 86_400_000 + 60_000);
      await main.admin.runJobs(); // expired: the row is there, its status not active
      const tokens: string[] = [];
      for (let i = 0; i < 2; i++) {
        await say(main.bot, 1, '/token vip30');
        tokens.push(/start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1] as string);
      }
      const before = calls.filter((c) => c.payload.chat_id === 27).length;
      // both redeems wait on the subscription's row, held here, so both read it before either writes
      const holder = await db.sql.reserve();
      try {
        await holder`begin`;
        await holder`select 1 from admin_subscriptions where user_id = ${member.id} for update`;
        const both = [main, other].map((b, i) => say(b.bot, 27, `/start ${tokens[i]}`));
        const waiting = async () =>
          (
            await db.sql<{ n: number }[]>`
              select count(*)::int as n from pg_stat_activity
              where datname = current_database() and wait_event_type = 'Lock' and query like '%insert into admin_subscriptions%'`
          )[0]?.n ?? 0;
        expect(await until(async () => (await waiting()) === 2, 10_000)).toBe(true); // contention
        await holder`commit`;
        await Promise.all(both);
      } finally {
        holder.release();
      }
      const texts = calls
        .filter((c) => c.payload.chat_id === 27)
        .slice(before)
        .map((c) => String(c.payload.text));
      // before: two welcomes, both audited extended: false
      expect(texts.filter((t) => t.startsWith('¡Te damos la bienvenida al Diván!'))).toHaveLength(1);
      expect(texts.filter((t) => t.startsWith('Tu suscripción VIP se amplía'))).toHaveLength(1);
      const audits = await db.sql<{ extended: boolean }[]>`
        select (details->>'extended')::boolean as extended from admin_audit
        where action = 'redeem' and target = ${member.id} order by created_at desc limit 2`;
      expect(audits.map((a) => a.extended).sort()).toEqual([false, true]);
      const [sub] = await db.sql<
        { ends_at: Date }[]
      >`select ends_at from admin_subscriptions where user_id = ${member.id}`;
      expect(Math.abs((sub?.ends_at.getTime() ?? 0) - (clock.now() + 60 * 86_400_000))).toBeLessThan(1_000);
    });
  });

  it("a pass shorter than a week gets no week reminder (the welcome named its end), only the last day's", async () => {
    await userWith(16, 'FREE');
    await say(main.bot, 1, '/tarifa prueba3 3 1');
    await say(main.bot, 1, '/token prueba3');
    await say(main.bot, 16, `/start ${/start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1]}`);
    expect((await users.getByTelegramId(16))?.role).toBe('VIP');
    const notices = () =>
      calls.filter((c) => c.payload.chat_id === 16 && String(c.payload.text).startsWith('Tu suscripción VIP termina'));
    await main.admin.runJobs();
    expect(notices()).toHaveLength(0); // before: "termina en 7 días" seconds after a 3-day redeem
    clock.advance(2 * 86_400_000 + 3_600_000); // 23 h left
    await main.admin.runJobs();
    expect(notices().map((c) => c.payload.text)).toEqual([
      `Tu suscripción VIP termina ${formatHumanMoment(new Date(clock.now() + 23 * 3_600_000), 'Europe/Madrid', new Date(clock.now()))}.`,
    ]);
    clock.advance(86_400_000);
    await main.admin.runJobs();
  });

  it("reminders after downtime say the end on the bot's calendar: today or tomorrow with its time, else the local days left and the date", async () => {
    // the bot is back at 08:00 in Madrid after downtime (no pass ran while the clock moved on)
    const dayAfter = (day: string, n: number) =>
      new Date(Date.parse(`${day}T00:00:00Z`) + n * 86_400_000).toISOString().slice(0, 10);
    const at = (day: string, time: string) => parseLocalTime(`${day} ${time}`, 'Europe/Madrid') as Date;
    let today = localIn(0).slice(0, 10);
    if (at(today, '08:00').getTime() <= clock.now()) today = dayAfter(today, 1);
    clock.set(at(today, '08:00').getTime());
    const ends = {
      41: at(today, '10:00'), // in 2 hours: the last day's notice
      42: at(dayAfter(today, 1), '07:00'), // in 23 hours: the last day's notice
      43: at(dayAfter(today, 1), '10:00'), // in 26 hours: the week's notice, late
      44: at(dayAfter(today, 2), '10:00'), // in 50 hours: the week's notice, late
    };
    for (const [tg, end] of Object.entries(ends)) {
      await userWith(Number(tg), 'FREE');
      await say(main.bot, 1, '/token vip30');
      await say(main.bot, Number(tg), `/start ${/start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(1))?.[1]}`);
      // its end moved (as a 30-day subscription's comes) to what the case needs
      await db.sql`
        update admin_subscriptions s set ends_at = ${end}, reminded_7d_at = null, reminded_24h_at = null
        from users u where u.id = s.user_id and u.telegram_id = ${Number(tg)}`;
    }
    await Promise.all([main.admin.runJobs(), other.admin.runJobs()]);
    await main.admin.runJobs();
    const told = (tg: number) =>
      calls
        .filter((c) => c.payload.chat_id === tg && String(c.payload.text).startsWith('Tu suscripción VIP termina'))
        .map((c) => c.payload.text);
    // before: "termina mañana." (it ends today), "termina mañana." (no time), "termina en 2 días,
    // el <tomorrow>." and "termina en 3 días, el <the day after>." (24-hour days elapsed, rounded up)
    expect(told(41)).toEqual(['Tu suscripción VIP termina hoy a las 10:00.']);
    expect(told(42)).toEqual(['Tu suscripción VIP termina mañana a las 7:00.']);
    expect(told(43)).toEqual(['Tu suscripción VIP termina mañana a las 10:00.']);
    expect(told(44)).toEqual([
      `Tu suscripción VIP termina en 2 días, el ${formatHumanDate(ends[44], 'Europe/Madrid', new Date(clock.now()))}.`,
    ]);
  });

  it('scheduled posts are published exactly once with two processes running the job, with their buttons and the react button', async () => {
    const local = localIn(2 * 3_600_000);
    await userWith(7, 'CONTENT_CREATOR');
    await say(main.bot, 7, `/programar ${local} Nueva entrada en el diario de Diana\n[Leer](https://t.me/diana/1)`);
    await say(main.bot, 7, `/programar ${local} -1001234567890 Solo para el canal VIP`);
    expect(lastTo(7)).toContain('Publicación programada');
    await Promise.all([main.admin.runJobs(), other.admin.runJobs()]);
    expect(calls.filter((c) => c.payload.chat_id === MAIN_CHANNEL)).toHaveLength(0); // not yet
    clock.advance(2 * 3_600_000 + 60_000);
    await Promise.all([main.admin.runJobs(), other.admin.runJobs(), main.admin.runJobs()]);
    const posts = calls.filter((c) => c.payload.chat_id === MAIN_CHANNEL);
    expect(posts).toHaveLength(1);
    expect(posts[0]?.payload.text).toBe('Nueva entrada en el diario de Diana');
    expect(posts[0]?.payload.reply_markup).toMatchObject({
      inline_keyboard: [[{ text: 'Leer', url: 'https://t.me/diana/1' }], [{ text: '💋' }]],
    });
    expect(calls.filter((c) => c.payload.chat_id === -1001234567890 && c.method === 'sendMessage')).toHaveLength(1);
    const [published] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from event_outbox where type = 'admin.post_published'`;
    expect(published?.n).toBe(2);
  });

  it('a post whose send fails for a reason that may pass is sent by a later pass; one Telegram refuses for good is not tried again', async () => {
    const flaky = makeBot();
    // Telegram answers 502 once to the first post, and 400 (the chat is gone) to the second
    const refusals = new Map([
      ['Entrada con un fallo pasajero', { error_code: 502, description: 'Bad Gateway', times: 1 }],
      ['Entrada que Telegram rechaza', { error_code: 400, description: 'Bad Request: chat not found', times: 99 }],
    ]);
    const refused: string[] = [];
    flaky.bot.api.config.use(async (prev, method, payload, signal) => {
      const text = String((payload as { text?: unknown }).text ?? '');
      const refusal = method === 'sendMessage' ? refusals.get(text) : undefined;
      if (refusal && refusal.times-- > 0) {
        refused.push(text);
        return { ok: false, error_code: refusal.error_code, description: refusal.description };
      }
      return prev(method, payload, signal);
    });
    await userWith(7, 'CONTENT_CREATOR');
    for (const text of refusals.keys()) await say(flaky.bot, 7, `/programar ${localIn(3_600_000)} ${text}`);
    const row = async (text: string) =>
      (
        await db.sql<{ status: string; attempts: number; retry_at: Date | null; error: string | null }[]>`
          select status, attempts, retry_at, error from admin_scheduled_posts where text = ${text}`
      )[0];
    const sent = (text: string) => calls.filter((c) => c.method === 'sendMessage' && c.payload.text === text);
    clock.advance(3_600_000 + 60_000);
    await flaky.admin.runJobs();
    expect(refused).toEqual(['Entrada con un fallo pasajero', 'Entrada que Telegram rechaza']); // both were tried
    expect(await row('Entrada con un fallo pasajero')).toMatchObject({ status: 'pending', attempts: 1 });
    expect((await row('Entrada con un fallo pasajero'))?.error).toContain('Bad Gateway');
    expect(await row('Entrada que Telegram rechaza')).toMatchObject({ status: 'failed', attempts: 1 });
    // not before its retry time (30 s after the first attempt)
    await flaky.admin.runJobs();
    expect(refused).toHaveLength(2);
    clock.advance(30_000);
    await flaky.admin.runJobs();
    expect(sent('Entrada con un fallo pasajero')).toHaveLength(1);
    expect(await row('Entrada con un fallo pasajero')).toMatchObject({ status: 'published', attempts: 2, error: null });
    expect(sent('Entrada que Telegram rechaza')).toHaveLength(0);
    expect(refused).toHaveLength(2); // the refused one was not tried again
  });

  it('a post Telegram refuses (403) is not counted as published: its creator is told once, and /programados shows it as failed', async () => {
    const refusing = makeBot();
    const text = 'Entrada para un canal del que echaron al bot';
    refusing.bot.api.config.use(async (prev, method, payload, signal) =>
      method === 'sendMessage' && (payload as { text?: unknown }).text === text
        ? { ok: false, error_code: 403, description: 'Forbidden: bot is not a member of the channel chat' }
        : prev(method, payload, signal),
    );
    await userWith(305, 'CONTENT_CREATOR');
    const when = localIn(3_600_000);
    await say(refusing.bot, 305, `/programar ${when} ${text}`);
    clock.advance(3_600_000 + 60_000);
    expect((await refusing.admin.runJobs()).published).toBe(0);
    const [row] = await db.sql<{ id: string; status: string; error: string }[]>`
      select id::text, status, error from admin_scheduled_posts where text = ${text}`;
    expect(row).toMatchObject({ status: 'failed', error: '403: Forbidden: bot is not a member of the channel chat' });
    const short = row?.id.replace(/-/g, '').slice(-8);
    const notice = `No se ha podido publicar tu publicación ${short} (canal principal, ${when}): «${text}». Telegram respondió: 403: Forbidden: bot is not a member of the channel chat. No se volverá a intentar; /programados la muestra como fallida.`;
    expect(api.sentTo(305).map((c) => c.payload.text)).toEqual([
      expect.stringContaining('Publicación programada'),
      notice,
    ]);
    // once: later passes neither try it again nor tell again
    clock.advance(10 * 60_000);
    expect((await refusing.admin.runJobs()).published).toBe(0);
    expect(api.sentTo(305).filter((c) => c.payload.text === notice)).toHaveLength(1);
    await say(refusing.bot, 305, '/programados');
    expect(lastTo(305).split('\n')).toContain(
      `${short} · ${when} · canal principal · ${text} · ⚠️ fallida: 403: Forbidden: bot is not a member of the channel chat`,
    );
    // shown for a week from its publish time, then no more (its time moved back: the clock stays)
    await db.sql`update admin_scheduled_posts set publish_at = publish_at - interval '7 days' where text = ${text}`;
    await say(refusing.bot, 305, '/programados');
    expect(lastTo(305)).not.toContain(short);
  });

  it("a post claimed by a process that died is taken over after the claim's lease (on PostgreSQL's clock); one whose sender is alive is not", async () => {
    const lease = { post_claim_lease_ms: 1_000 }; // renewed every 250 ms by a live sender
    const [a, b] = [makeBot(undefined, lease), makeBot(undefined, lease)];
    await userWith(7, 'CONTENT_CREATOR');
    const slow = 'Entrada que Telegram tarda en aceptar';
    const orphan = 'Entrada de un proceso que murió';
    for (const text of [slow, orphan]) await say(a.bot, 7, `/programar ${localIn(3_600_000)} ${text}`);
    const sent = (text: string) => calls.filter((c) => c.method === 'sendMessage' && c.payload.text === text);
    // the orphan: claimed (as a process does before sending), and that process then died
    clock.advance(3_600_000 + 60_000);
    await db.sql`update admin_scheduled_posts set status = 'publishing', claimed_at = clock_timestamp(), attempts = 1 where text = ${orphan}`;
    // a's send of the slow post is held inside Telegram until released
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held = createBarrier(2);
    a.bot.api.config.use(async (prev, method, payload, signal) => {
      if ((payload as { text?: unknown }).text === slow) {
        await held.wait();
        await released;
      }
      return prev(method, payload, signal);
    });
    const aPass = a.admin.runJobs();
    await held.wait(); // a has claimed the slow post and is sending it
    // the claims are fresh: b takes neither
    await b.admin.runJobs();
    expect(sent(orphan)).toHaveLength(0);
    // the orphan's claim ages past the lease on the database's clock (poll with a deadline); the
    // live sender's is renewed meanwhile
    const ageMs = async (text: string) =>
      (
        await db.sql<{ ms: number }[]>`
          select (extract(epoch from clock_timestamp() - claimed_at) * 1000)::float8 as ms from admin_scheduled_posts where text = ${text}`
      )[0]?.ms ?? 0;
    let aged = false;
    for (const deadline = Date.now() + 10_000; !aged && Date.now() < deadline; )
      if ((await ageMs(orphan)) > 1_100) aged = true;
      else await new Promise((resolve) => setTimeout(resolve, 50));
    expect(aged).toBe(true);
    expect(await ageMs(slow)).toBeLessThan(1_000);
    await b.admin.runJobs();
    expect(sent(orphan)).toHaveLength(1); // the dead process's claim was taken over and sent
    expect(sent(slow)).toHaveLength(0); // the live one's was not (a's send is still held)
    release();
    await aPass;
    expect(sent(slow)).toHaveLength(1);
    const rows = await db.sql<{ text: string; status: string; attempts: number }[]>`
      select text, status, attempts from admin_scheduled_posts where text in (${slow}, ${orphan}) order by text`;
    expect(rows).toEqual([
      { text: orphan, status: 'published', attempts: 2 },
      { text: slow, status: 'published', attempts: 1 },
    ]);
  });

  it("a batch's later posts keep their claims while the first is sent: another process does not send them too", async () => {
    // before: only the post being sent was renewed, and the rest of its batch was taken over
    // past the lease (the first waiting out a 429) and sent twice
    const lease = { post_claim_lease_ms: 1_000 }; // renewed every 250 ms
    const [a, b] = [makeBot(undefined, lease), makeBot(undefined, lease)];
    await userWith(7, 'CONTENT_CREATOR');
    const first = 'Primera de un lote';
    const second = 'Segunda de un lote';
    await say(a.bot, 7, `/programar ${localIn(3_600_000)} ${first}`);
    await say(a.bot, 7, `/programar ${localIn(3_660_000)} ${second}`);
    clock.advance(3_660_000 + 60_000);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held = createBarrier(2);
    a.bot.api.config.use(async (prev, method, payload, signal) => {
      if ((payload as { text?: unknown }).text === first) {
        await held.wait();
        await released;
      }
      return prev(method, payload, signal);
    });
    const aPass = a.admin.runJobs();
    await held.wait(); // a claimed both and is sending the first
    // past the lease on the database's clock (poll with a deadline): b finds nothing to take
    const claimedAgo = async (text: string) =>
      (
        await db.sql<{ ms: number }[]>`
          select (extract(epoch from clock_timestamp() - claimed_at) * 1000)::float8 as ms from admin_scheduled_posts where text = ${text}`
      )[0]?.ms ?? 0;
    const [{ at } = { at: 0 }] = await db.sql<{ at: number }[]>`
      select (extract(epoch from claimed_at) * 1000)::float8 as at from admin_scheduled_posts where text = ${first}`;
    const dbNow = async () =>
      (await db.sql<{ ms: number }[]>`select (extract(epoch from clock_timestamp()) * 1000)::float8 as ms`)[0]?.ms ?? 0;
    for (const deadline = Date.now() + 10_000; (await dbNow()) - at < 1_600 && Date.now() < deadline; )
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect((await dbNow()) - at).toBeGreaterThanOrEqual(1_600); // the batch's claim is past its lease
    expect(await claimedAgo(second)).toBeLessThan(1_000); // renewed while it waits its turn
    await b.admin.runJobs();
    release();
    await aPass;
    const sent = (text: string) => calls.filter((c) => c.method === 'sendMessage' && c.payload.text === text);
    expect(sent(first)).toHaveLength(1);
    expect(sent(second)).toHaveLength(1);
  });

  it("a process whose clock runs ahead by more than the lease does not take a live sender's claim over", async () => {
    // before: claimed_at came from each process's clock, and b (90 s ahead) read a's fresh claim
    // as a minute and a half old: the post went out twice
    const lease = { post_claim_lease_ms: 60_000 };
    const ahead: Clock = { now: () => clock.now() + 90_000 };
    const [a, b] = [makeBot(undefined, lease), makeBot(undefined, lease, ahead)];
    await userWith(7, 'CONTENT_CREATOR');
    const text = 'Entrada con dos relojes';
    await say(a.bot, 7, `/programar ${localIn(3_600_000)} ${text}`);
    clock.advance(3_600_000 + 60_000);
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const held = createBarrier(2);
    a.bot.api.config.use(async (prev, method, payload, signal) => {
      if ((payload as { text?: unknown }).text === text) {
        await held.wait();
        await released;
      }
      return prev(method, payload, signal);
    });
    const aPass = a.admin.runJobs();
    await held.wait(); // a has claimed the post and is sending it
    await b.admin.runJobs();
    release();
    await aPass;
    expect(calls.filter((c) => c.method === 'sendMessage' && c.payload.text === text)).toHaveLength(1);
  });

  it('/programar: each refusal says its real reason, and nothing is stored', async () => {
    await userWith(1, 'ADMIN');
    const posts = async () =>
      (await db.sql<{ n: number }[]>`select count(*)::int as n from admin_scheduled_posts`)[0]?.n ?? 0;
    const before = await posts();
    await say(main.bot, 1, '/programar mañana a las 8 Hola');
    expect(lastTo(1)).toContain('Uso: /programar AAAA-MM-DD HH:MM');
    // a time that does not exist (it was rolled over: 99:99 became four days later at 04:39)
    // …or that the spring clock change skips (02:30 was moved to 03:30)
    for (const time of ['2031-01-15 99:99', '2031-01-15 24:00', '2031-02-30 10:00', '2027-03-28 02:30']) {
      await say(main.bot, 1, `/programar ${time} Hola`);
      expect(lastTo(1), time).toContain('una fecha y una hora que existan');
    }
    await say(main.bot, 1, `/programar ${localIn(-3_600_000)} Tarde`);
    expect(lastTo(1)).toMatch(/^Esa hora \(.+\) ya pasó: elige una hora en el futuro\.$/);
    await say(main.bot, 1, `/programar ${localIn(3_600_000)}`);
    expect(lastTo(1)).toBe('Falta el texto de la publicación, después de la hora (y del id del chat, si lo pones).');
    await say(main.bot, 1, `/programar ${localIn(3_600_000)} -1001234567890`);
    expect(lastTo(1)).toContain('Falta el texto de la publicación');
    // checked up front: a 5 400-character post was accepted and published cut mid-word
    const long = 'palabra '.repeat(675);
    await say(main.bot, 1, `/programar ${localIn(3_600_000)} ${long}`);
    expect(lastTo(1)).toBe(
      `La publicación tiene ${long.trim().length} caracteres y Telegram admite 4096 como máximo: acórtala y vuelve a programarla.`,
    );
    // with no main channel configured, a valid time without a chat id says so (it said "in the future")
    const noMain = makeBot({});
    await say(noMain.bot, 1, `/programar ${localIn(3_600_000)} Sin canal principal`);
    expect(lastTo(1)).toBe(
      'No hay canal principal configurado (DIANA_ADMIN_MAIN_CHANNEL_ID): escribe el id del chat después de la hora.',
    );
    await noMain.admin.close();
    expect(await posts()).toBe(before);
  });

  it('/programar: a CONTENT_CREATOR posts only to the configured channels, an ADMIN anywhere; ids that would round are refused', async () => {
    await userWith(1, 'ADMIN');
    await userWith(8, 'CONTENT_CREATOR');
    const posts = async () =>
      (await db.sql<{ n: number }[]>`select count(*)::int as n from admin_scheduled_posts`)[0]?.n ?? 0;
    const before = await posts();
    await say(main.bot, 8, `/programar ${localIn(3_600_000)} -1009999999 Publicidad en otro chat`);
    expect(lastTo(8)).toBe('Solo puedes programar en los canales configurados; para otro chat hace falta un ADMIN.');
    await say(main.bot, 8, `/programar ${localIn(3_600_000)} 123456789 Un mensaje privado a alguien`);
    expect(lastTo(8)).toContain('Solo puedes programar en los canales configurados');
    expect(await posts()).toBe(before);
    await say(main.bot, 8, `/programar ${localIn(3_600_000)} -1001234567890 Al canal de la lista`);
    expect(lastTo(8)).toContain('Publicación programada');
    await say(main.bot, 1, `/programar ${localIn(3_600_000)} -1009999999 Un ADMIN puede`);
    expect(lastTo(1)).toContain('Publicación programada');
    // 2^53 + 1 would be stored as 2^53: another chat
    for (const id of ['9007199254740993', '-9007199254740993', '-100123456789012345678'])
      await say(main.bot, 1, `/programar ${localIn(3_600_000)} ${id} A un chat que no es`);
    expect(
      calls
        .filter((c) => c.payload.chat_id === 1)
        .slice(-3)
        .map((c) => c.payload.text),
    ).toEqual(Array(3).fill(expect.stringContaining('Ese id de chat no es válido')));
    // a configured channel's short id is a chat id too (it went into the text, to the main channel)
    await say(main.bot, 8, `/programar ${localIn(3_600_000)} -1001 Solo para el canal corto`);
    expect(lastTo(8)).toContain('Publicación programada');
    const rows = await db.sql<
      { channel_id: string; text: string }[]
    >`select channel_id, text from admin_scheduled_posts`;
    expect(rows.map((r) => r.channel_id)).not.toContain('9007199254740992');
    expect(rows.find((r) => r.text === 'Solo para el canal corto')?.channel_id).toBe(String(VIP_CHANNEL));
    expect(await posts()).toBe(before + 3);
  });

  it('/programar: a short number opening the text is text, not a chat id (ADMIN and CONTENT_CREATOR alike)', async () => {
    await userWith(1, 'ADMIN');
    await userWith(8, 'CONTENT_CREATOR');
    // before: channel_id '-5', text 'grados…' (the ADMIN's), and "Solo puedes programar…" (the creator's)
    for (const [tg, text] of [
      [1, '-5 grados esta noche en Madrid'],
      [8, '-3 grados\ny niebla'],
      [8, '2024 fue un gran año'],
    ] as const) {
      await say(main.bot, tg, `/programar ${localIn(3_600_000)} ${text}`);
      expect(lastTo(tg), text).toContain('Publicación programada');
      const [row] = await db.sql<{ channel_id: string }[]>`
        select channel_id from admin_scheduled_posts where text = ${text} and created_by = ${`tg:${tg}`}`;
      expect(row?.channel_id, text).toBe(String(MAIN_CHANNEL));
    }
  });

  it('/config set publishes a revision through ConfigManager and audits it; invalid values are refused', async () => {
    await say(main.bot, 1, '/config set gamification.daily_gift_test {"amount": 25}');
    expect(lastTo(1)).toContain('publicado');
    const deadline = Date.now() + 15_000;
    while (config.get('gamification.daily_gift_test').amount !== 25 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(config.get('gamification.daily_gift_test').amount).toBe(25);
    await say(main.bot, 1, '/config gamification.daily_gift_test'); // one key's value, not the usage line
    expect(lastTo(1)).toMatch(/^gamification\.daily_gift_test: \{"amount":25\b/);
    const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from admin_audit where action = 'config_set'`;
    expect(row?.n).toBe(1);
    await say(main.bot, 1, '/config set gamification.daily_gift_test {"amount": "many"}');
    expect(lastTo(1)).toMatch(/^Valor no válido para gamification\.daily_gift_test:\n• amount: se esperaba /);
    await say(main.bot, 1, '/config history gamification.daily_gift_test');
    expect(lastTo(1)).toMatch(/#2 \d{4}-\d{2}-\d{2} \d{2}:\d{2} publicada por U1 \(1\)/); // staff named as /auditoria names them
  });

  it('/config and /dlq mistakes are answered in Spanish with what is wrong, never "Algo salió mal"', async () => {
    await userWith(1, 'ADMIN');
    await say(main.bot, 1, '/config set gamification.daily_gift_test {"amount": 30}');
    await say(main.bot, 1, '/config rollback gamification.daily_gift_test 99');
    expect(lastTo(1)).toMatch(
      /^gamification\.daily_gift_test no tiene la revisión «99»; sus revisiones van de #1 a #\d+ /,
    );
    await say(main.bot, 1, '/config rollback gamification.daily_gift_test dos');
    expect(lastTo(1)).toContain('no tiene la revisión «dos»');
    await say(main.bot, 1, '/config no.such.key'); // a mistyped key, not a mistyped subcommand
    expect(lastTo(1)).toMatch(/^No existe la clave «no\.such\.key»\. Claves: .*gamification\.daily_gift_test/);
    await say(main.bot, 1, '/config history no.such.key');
    expect(lastTo(1)).toMatch(/^No existe la clave «no\.such\.key»\. Claves: .*gamification\.daily_gift_test/);
    await say(main.bot, 1, '/config set no.such.key {"a": 1}');
    expect(lastTo(1)).toContain('No existe la clave «no.such.key»');
    await say(main.bot, 1, '/dlq list foo');
    expect(lastTo(1)).toBe('No hay ningún tipo de evento «foo» (p. ej. gamification.besitos_awarded).');
    await say(main.bot, 1, '/dlq replay foo');
    expect(lastTo(1)).toContain('«foo»');
    expect(
      calls.filter((c) => c.payload.chat_id === 1).some((c) => String(c.payload.text).includes('Algo salió')),
    ).toBe(false);
  });

  it('the admin who asked is told what was actually done with a grant, after it was done', async () => {
    await userWith(1, 'ADMIN');
    const target = await userWith(2, 'FREE');
    const sub = main.admin.subscriptions.find((x) => x.types.includes('gamification.adjustment_applied'));
    expect(sub).toBeDefined();
    const reports = bus.subscribe('admin-report', 'gamification.adjustment_applied', sub?.handler as never);
    const told = () => calls.filter((c) => c.payload.chat_id === 1 && String(c.payload.text).startsWith('Hecho:'));
    const before = told().length;
    await bus.publish('gamification.adjustment_applied', {
      user_id: target.id,
      requested: -1000,
      applied: -138,
      balance: 0,
      actor: 'tg:1',
    });
    await bus.publish('gamification.adjustment_applied', {
      user_id: target.id,
      requested: 15,
      applied: 15,
      balance: 15,
      actor: 'tg:1',
    });
    const deadline = Date.now() + 15_000;
    while (told().length < before + 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    // one message each (their order is the consumer's)
    expect(
      told()
        .slice(before)
        .map((c) => c.payload.text)
        .sort(),
    ).toEqual([
      'Hecho: +15 besitos para U2 (2). Saldo: 15.',
      'Hecho: −138 besitos para U2 (2) (se pidieron −1000; el saldo no baja de 0). Saldo: 0.',
    ]);
    await reports.close(); // later tests' reports are theirs to tell
  });

  it('a "Hecho" notice whose send outlives the handler timeout is sent once: the send is aborted, the retry tells nothing', async () => {
    await userWith(1, 'ADMIN');
    const target = await userWith(2, 'FREE');
    // a bus that retries a handler past 150 ms (the app's handler_timeout_ms), on the same streams
    const retrying = createEventBus(
      { max_attempts: 3, backoff_base_ms: 10, handler_timeout_ms: 150 },
      { transport, events: mergeEvents(mergeEvents(ADMIN_EVENTS, CONFIG_EVENTS), GAMIFICATION_REPORTS), db },
    );
    // Telegram holding the first send (a 429's retry_after that auto-retry waits out, whatever the
    // signal says) until the test lets it go; every later send answers at once
    const sends: Array<{ text: string; signal: AbortSignal | undefined }> = [];
    let letGo!: () => void;
    const held = new Promise<void>((resolve) => {
      letGo = resolve;
    });
    const bot = new Bot<AdminContext>('0:test', { botInfo: FAKE_BOT_INFO });
    bot.api.config.use((async (
      _prev: unknown,
      method: string,
      payload: Record<string, unknown>,
      signal?: AbortSignal,
    ) => {
      if (method === 'sendMessage') {
        sends.push({ text: String(payload.text), signal });
        if (sends.length === 1) await held;
      }
      return { ok: true, result: { message_id: 1, date: 0, chat: { id: payload.chat_id, type: 'private' } } };
    }) as never);
    const module = createAdminModule(
      { timezone: 'Europe/Madrid' },
      { db, bus, config, tokens, api: () => bot.api, botUsername: () => 'diana_bot', clock },
    );
    const handler = module.subscriptions.find((x) => x.types.includes('gamification.adjustment_applied'))?.handler as (
      event: unknown,
      ctx: unknown,
    ) => Promise<void>;
    const attempts: Array<{ attempt: number; ended: boolean }> = [];
    retrying.subscribe('admin-told-once', 'gamification.adjustment_applied', async (event, ctx) => {
      const run = { attempt: ctx.attempt, ended: false };
      attempts.push(run);
      try {
        await handler(event, ctx);
      } finally {
        run.ended = true;
      }
    });
    try {
      await retrying.publish('gamification.adjustment_applied', {
        user_id: target.id,
        requested: 40,
        applied: 40,
        balance: 40,
        actor: 'tg:1',
      });
      // the first attempt is aborted while its send is held; the retry runs and ends
      expect(await until(() => attempts.some((a) => a.attempt >= 2 && a.ended), 15_000)).toBe(true);
      expect(sends[0]?.signal?.aborted).toBe(true); // the handler's signal reached the Telegram call
      letGo();
      expect(await until(() => attempts.every((a) => a.ended), 15_000)).toBe(true);
      // before: the retry sent it again beside the held one (3 times with a longer hold)
      expect(sends.map((x) => x.text)).toEqual(['Hecho: +40 besitos para U2 (2). Saldo: 40.']);
    } finally {
      letGo();
      await retrying.close();
      await module.close();
    }
  });

  it('keeps told events 30 days: the jobs pass removes older records', async () => {
    const day = 86_400_000;
    await db.sql`insert into admin_told_events (event_id, told_at) values
      ('told-old', ${new Date(clock.now() - 31 * day)}), ('told-recent', ${new Date(clock.now() - 29 * day)})`;
    await main.admin.runJobs();
    const left = await db.sql<{ event_id: string }[]>`
      select event_id from admin_told_events where event_id like 'told-%' order by event_id`;
    expect(left.map((r) => r.event_id)).toEqual(['told-recent']);
    await db.sql`delete from admin_told_events where event_id = 'told-recent'`;
  });

  it('/besitos publishes a grant for the gamification module, audited', async () => {
    await say(main.bot, 1, '/besitos 2 15 compensación por un fallo');
    expect(lastTo(1)).toBe('Pedido registrado: +15 besitos para U2 (2). Te aviso en cuanto esté aplicado.');
    const [granted] = await db.sql<
      { envelope: string }[]
    >`select envelope from event_outbox where type = 'admin.besitos_granted'`;
    expect(JSON.parse(granted?.envelope ?? '{}').payload).toMatchObject({
      amount: 15,
      reason: 'compensación por un fallo',
      actor: 'tg:1',
    });
  });

  it('control characters in what staff type reach no reason, post or reply: normalized where they are read', async () => {
    await userWith(1, 'ADMIN');
    await userWith(2, 'FREE');
    const ESC = '\u001B';
    // before: the reason kept its ESC bytes, and the user's notice cleared and recoloured the console chat
    await say(main.bot, 1, `/besitos 2 100 prueba ${ESC}[2J${ESC}[31mROJO`);
    const [granted] = await db.sql<{ envelope: string }[]>`
      select envelope from event_outbox where type = 'admin.besitos_granted' order by created_at desc limit 1`;
    expect(JSON.parse(granted?.envelope ?? '{}').payload).toMatchObject({ amount: 100, reason: 'prueba [2J[31mROJO' });
    const [audit] = await db.sql<{ reason: string }[]>`
      select reason from admin_audit where action = 'grant_besitos' order by created_at desc limit 1`;
    expect(audit?.reason).toBe('prueba [2J[31mROJO');
    // a post keeps its lines, not its control characters nor a right-to-left override
    await say(main.bot, 1, `/programar ${localIn(3_600_000)} Línea 1${ESC}[2J\nLínea 2\u202E\u0007`);
    const [post] = await db.sql<{ text: string }[]>`
      select text from admin_scheduled_posts order by created_at desc limit 1`;
    expect(post?.text).toBe('Línea 1[2J\nLínea 2');
    // an echo of a refused argument too
    await say(main.bot, 1, `/tarifa ${ESC}[31mvip 30 9,99`);
    expect(lastTo(1)).toMatch(/^El nombre de la tarifa \(«\[31mvip»\)/);
  });

  it('one /besitos or /quitar_besitos update sent again, to another process or at once to both, is done once', async () => {
    await userWith(1, 'ADMIN');
    const target = await userWith(2, 'FREE');
    const grants = async () =>
      (
        await db.sql<{ envelope: string }[]>`
          select envelope from event_outbox where type = 'admin.besitos_granted' order by created_at`
      )
        .map((r) => JSON.parse(r.envelope).payload as { user_id: string; amount: number; reason: string })
        .filter((p) => p.user_id === target.id && p.reason.startsWith('redelivered'));
    const audited = async (update_id: number) =>
      (await db.sql<{ n: number }[]>`select count(*)::int as n from admin_audit where update_id = ${update_id}`)[0]?.n;
    // Telegram redelivers: the same update (same update_id) to the other process, after the first's commit
    for (const [command, amount] of [
      ['/besitos 2 100 redelivered grant', 100],
      ['/quitar_besitos 2 30 redelivered take', -30],
    ] as const) {
      const update = updates.message(1, command) as Update;
      await main.bot.handleUpdate(update);
      expect(lastTo(1)).toMatch(/^Pedido registrado/);
      await other.bot.handleUpdate(structuredClone(update));
      expect(lastTo(1)).toBe('Ya estaba hecho: esta orden ya se había procesado, no la repito.');
      expect((await grants()).filter((g) => g.amount === amount)).toHaveLength(1);
      expect(await audited(update.update_id)).toBe(1);
    }
    // both processes at once (a lease that ran out while the first still worked): one grant
    const update = updates.message(1, '/besitos 2 7 redelivered at once') as Update;
    const together = createBarrier(2);
    afterUserLoaded = () => together.wait();
    try {
      await Promise.all([main.bot.handleUpdate(update), other.bot.handleUpdate(structuredClone(update))]);
    } finally {
      afterUserLoaded = undefined;
    }
    expect((await grants()).filter((g) => g.amount === 7)).toHaveLength(1);
    expect(await audited(update.update_id)).toBe(1);
    const replies = calls
      .filter((c) => c.payload.chat_id === 1)
      .slice(-2)
      .map((c) => String(c.payload.text));
    expect(replies.sort()).toEqual([
      'Pedido registrado: +7 besitos para U2 (2). Te aviso en cuanto esté aplicado.',
      'Ya estaba hecho: esta orden ya se había procesado, no la repito.',
    ]);
  });

  it('every staff command that changes something, its update sent again after other changes, does nothing more', async () => {
    await userWith(1, 'ADMIN');
    await userWith(61, 'FREE');
    await userWith(62, 'FREE');
    const DONE = 'Ya estaba hecho: esta orden ya se había procesado, no la repito.';
    /** Handles `text` on the main process; returns the update, to send again later. */
    const first = async (text: string) => {
      const update = updates.message(1, text) as Update;
      await main.bot.handleUpdate(update);
      expect(lastTo(1)).not.toBe(DONE);
      return update;
    };
    /** Telegram sends `update` again, to the other process: answered as done, nothing more. */
    const again = async (update: Update) => {
      await other.bot.handleUpdate(structuredClone(update));
      expect(lastTo(1)).toBe(DONE);
    };
    const count = async (query: Promise<{ n: number }[]>) => (await query)[0]?.n;

    // /programar: one post
    const post = await first(`/programar ${localIn(3_600_000)} entregado dos veces`);
    await again(post);
    expect(
      await count(db.sql`select count(*)::int as n from admin_scheduled_posts where text = 'entregado dos veces'`),
    ).toBe(1);

    // /token: one valid link
    await first('/tarifa redeliv 30 5');
    const tokensNow = () => count(db.sql`select count(*)::int as n from security_tokens`);
    const before = await tokensNow();
    const token = await first('/token redeliv');
    await again(token);
    expect(await tokensNow()).toBe((before ?? 0) + 1);

    // /rol, then another change: the first sent again does not undo the second
    const rol = await first('/rol 61 MODERATOR');
    await first('/rol 61 gratuito');
    await again(rol);
    expect((await users.getByTelegramId(61))?.role).toBe('FREE');

    // /ban, then /unban: the ban sent again does not ban again
    const ban = await first('/ban 62 spam');
    await first('/unban 62 error');
    await again(ban);
    expect((await users.getByTelegramId(62))?.role).toBe('FREE');

    // /config set, then another value: the first sent again does not bring its value back
    const set = await first('/config set gamification.daily_gift_test {"amount": 77}');
    await first('/config set gamification.daily_gift_test {"amount": 88}');
    const revisions = (await config.keyHistory('gamification.daily_gift_test')).length;
    await again(set);
    expect((await config.keyHistory('gamification.daily_gift_test')).length).toBe(revisions);
    expect(config.get('gamification.daily_gift_test' as never)).toEqual({ amount: 88 });

    // /dlq purge … confirmar sent again does not delete the letters that came since
    bus.subscribe('purge-group', 'admin.post_published', async () => {
      throw new Error('purge me');
    });
    const letters = () => bus.dlq.list('admin.post_published', 1_000).then((l) => l.length);
    const earlier = await count(
      db.sql`select count(*)::int as n from event_outbox where type = 'admin.post_published'`,
    );
    await bus.publish('admin.post_published', { post_id: 'p-1', channel_id: '-1', message_id: 1 });
    expect(await until(async () => (await letters()) >= (earlier ?? 0) + 1)).toBe(true);
    const newest = (await bus.dlq.list('admin.post_published', 1_000)).at(-1)?.dlq_id;
    const purge = await first(`/dlq purge admin.post_published confirmar ${newest}`);
    expect(await letters()).toBe(0);
    await bus.publish('admin.post_published', { post_id: 'p-2', channel_id: '-1', message_id: 2 });
    expect(await until(async () => (await letters()) === 1)).toBe(true);
    await again(purge);
    expect(await letters()).toBe(1);
  });

  it('/besitos refuses any amount but plain digits 1..BESITOS_MAX, with the reason, writing nothing', async () => {
    const written = async () => {
      const [row] = await db.sql<{ audit: number; events: number }[]>`
        select (select count(*)::int from admin_audit where action = 'grant_besitos') as audit,
               (select count(*)::int from event_outbox where type = 'admin.besitos_granted') as events`;
      return row;
    };
    const before = await written();
    const refusals: Array<[string, string]> = [
      ['1e21', 'solo con cifras'],
      ['0x10', 'solo con cifras'],
      ['9007199254740993', `como mucho ${BESITOS_MAX}`],
      ['-5', 'solo con cifras'],
      ['0', 'al menos 1'],
      ['1.5', 'solo con cifras'],
      ['١٢', 'solo con cifras'],
      ['\u200b12', 'solo con cifras'],
    ];
    for (const [amount, reason] of refusals)
      for (const command of ['/besitos', '/quitar_besitos']) {
        await say(main.bot, 1, `${command} 2 ${amount} motivo`);
        expect(lastTo(1), `${command} ${amount}`).toMatch(/^Cantidad no válida \(.+\): .+\. Nada se ha registrado\.$/);
        expect(lastTo(1), `${command} ${amount}`).toContain(reason);
      }
    // nothing reached the audit or the outbox (the ledger is paid only from that event)
    expect(await written()).toEqual(before);
    // the event schema holds the same range for any other publisher
    await expect(
      bus.publish('admin.besitos_granted', { user_id: 'u', amount: 1e21, reason: 'x', actor: 'tg:1' }),
    ).rejects.toMatchObject({ code: 'E_BUS_EVENT_SCHEMA' });
    // good amounts pass: a grant and a take
    await say(main.bot, 1, `/besitos 2 ${BESITOS_MAX} tope`);
    expect(lastTo(1)).toBe(`Pedido registrado: +${BESITOS_MAX} besitos para U2 (2). Te aviso en cuanto esté aplicado.`);
    await say(main.bot, 1, '/quitar_besitos 2 5 corrección');
    expect(lastTo(1)).toBe(
      'Pedido registrado: quitar hasta 5 besitos a U2 (2) (el saldo nunca baja de 0). Te aviso de lo que se quite.',
    );
    const amounts = await db.sql<{ amount: number }[]>`
      select (envelope::jsonb -> 'payload' ->> 'amount')::int as amount from event_outbox
      where type = 'admin.besitos_granted' order by created_at desc limit 2`;
    expect(amounts.map((a) => a.amount).sort((a, b) => a - b)).toEqual([-5, BESITOS_MAX]);
  });

  it('a reason over 200 characters is refused with its length, before anything is written; 200 pass', async () => {
    const written = async () => {
      const [row] = await db.sql<{ audit: number; events: number }[]>`
        select (select count(*)::int from admin_audit) as audit, (select count(*)::int from event_outbox) as events`;
      return row;
    };
    const before = await written();
    const long = 'x'.repeat(201);
    // before: /besitos failed in the event's schema ("Algo salió mal"); /ban took any length
    for (const command of ['/besitos 2 5', '/quitar_besitos 2 5', '/ban 2', '/unban 2', '/cancelar_vip 2']) {
      await say(main.bot, 1, `${command} ${long}`);
      expect(lastTo(1), command).toBe(
        'El motivo es demasiado largo: 201 caracteres, y caben 200. Acórtalo y vuelve a enviar la orden; no se ha hecho nada.',
      );
    }
    expect(await written()).toEqual(before);
    await say(main.bot, 1, `/besitos 2 5 ${'y'.repeat(99)} ${'z'.repeat(100)}`);
    expect(lastTo(1)).toBe('Pedido registrado: +5 besitos para U2 (2). Te aviso en cuanto esté aplicado.');
    const [granted] = await db.sql<{ reason: string }[]>`
      select envelope::jsonb -> 'payload' ->> 'reason' as reason from event_outbox
      where type = 'admin.besitos_granted' order by created_at desc limit 1`;
    expect(granted?.reason).toHaveLength(200);
  });

  it('staff name users by numeric Telegram id only: @username is refused with the reason, nothing changes', async () => {
    await userWith(1, 'ADMIN');
    const target = await userWith(9, 'FREE');
    const grants = async () =>
      (
        await db.sql<{ n: number }[]>`select count(*)::int as n from event_outbox where type = 'admin.besitos_granted'`
      )[0]?.n ?? 0;
    const before = await grants();
    for (const command of ['/rol @user9 MODERATOR', '/besitos @user9 15 regalo']) {
      await say(main.bot, 1, command);
      expect(lastTo(1)).toBe(
        'Indica al usuario por su id numérico de Telegram, no por @usuario: los nombres de usuario cambian de dueño. /usuario @usuario te dice su id.',
      );
    }
    // not a @username either: said so, without the @username reason
    for (const [command, ref] of [
      ['/rol user9 VIP', 'user9'],
      ['/rol -9 VIP', '-9'],
    ] as const) {
      await say(main.bot, 1, command);
      expect(lastTo(1)).toBe(
        `«${ref}» no es un id de Telegram: solo cifras, como 123456789 (/usuario @usuario te dice el de alguien).`,
      );
    }
    expect((await users.getById(target.id))?.role).toBe('FREE');
    expect(await grants()).toBe(before);
    await say(main.bot, 1, '/rol 9 MODERATOR');
    expect((await users.getById(target.id))?.role).toBe('MODERATOR');
  });

  it('/ban and /unban: a MODERATOR bans and unbans users below them, audited with the reason; staff at or above them are refused', async () => {
    await userWith(30, 'MODERATOR');
    const fan = await userWith(31, 'FREE');
    const admin = await userWith(32, 'ADMIN');
    const peer = await userWith(33, 'MODERATOR');
    await say(main.bot, 30, '/ban 31 spam en los comentarios');
    expect(lastTo(30)).toBe('Has baneado a U31 (31): el bot ya no le contesta.');
    expect((await users.getById(fan.id))?.role).toBe('BANNED');
    await say(main.bot, 30, '/ban 31');
    expect(lastTo(30)).toBe('U31 (31) ya estaba en la lista de baneos.');
    for (const ref of ['32', '33']) {
      await say(main.bot, 30, `/ban ${ref}`);
      expect(lastTo(30)).toBe('No puedes banear a alguien de tu rango o superior.');
    }
    expect((await users.getById(admin.id))?.role).toBe('ADMIN');
    expect((await users.getById(peer.id))?.role).toBe('MODERATOR');
    await say(main.bot, 30, '/unban 31 apelación aceptada');
    expect(lastTo(30)).toBe('Has quitado el baneo a U31 (31); su rol ahora es «gratuito».');
    expect((await users.getById(fan.id))?.role).toBe('FREE');
    const audit = await db.sql<{ actor: string; action: string; reason: string; details: unknown }[]>`
      select actor, action, reason, details from admin_audit where target = ${fan.id} order by created_at`;
    expect(audit).toEqual([
      { actor: 'tg:30', action: 'ban', reason: 'spam en los comentarios', details: { from: 'FREE', to: 'BANNED' } },
      { actor: 'tg:30', action: 'unban', reason: 'apelación aceptada', details: { from: 'BANNED', to: 'FREE' } },
    ]);
    // below MODERATOR nobody learns /ban exists
    await say(main.bot, 31, '/ban 30');
    expect(lastTo(31)).toBe('(unhandled)');
    expect((await users.getById(peer.id))?.role).toBe('MODERATOR');
  });

  it('/rol … gratuito on someone whose VIP subscription runs leaves them VIP, as /unban does, and says so', async () => {
    await userWith(301, 'ADMIN');
    const moderator = await userWith(302, 'MODERATOR');
    const vip = await userWith(303, 'FREE');
    const free = await userWith(304, 'VIP'); // VIP by /rol, no subscription behind it
    await say(main.bot, 301, '/tarifa rol30 30 1000');
    for (const tg of [302, 303]) {
      await say(main.bot, 301, '/token rol30');
      await say(main.bot, tg, `/start ${/start=(vip_[A-Za-z0-9_-]+)/.exec(lastTo(301))?.[1]}`);
    }
    expect((await users.getById(moderator.id))?.role).toBe('MODERATOR'); // a redeem never lowers staff
    expect((await users.getById(vip.id))?.role).toBe('VIP');
    const until = formatHumanDate(new Date(clock.now() + 30 * 86_400_000), 'Europe/Madrid', new Date(clock.now()));
    const changesBefore = roleChanges.length;
    // staff with a subscription: VIP while it runs, not FREE
    await say(main.bot, 301, '/rol 302 gratuito');
    expect(lastTo(301)).toBe(
      `U302 (302) tiene ahora el rol «VIP», no «gratuito»: su suscripción VIP sigue hasta el ${until}. Para quitársela: /cancelar_vip 302 <motivo>.`,
    );
    expect((await users.getById(moderator.id))?.role).toBe('VIP');
    expect(roleChanges.slice(changesBefore)).toEqual([302]);
    // a VIP member: nothing changes, nothing audited nor announced
    await say(main.bot, 301, '/rol 303 gratuito');
    expect(lastTo(301)).toBe(
      `U303 (303) sigue con el rol «VIP»: su suscripción VIP sigue hasta el ${until}. Para quitársela: /cancelar_vip 303 <motivo>.`,
    );
    expect((await users.getById(vip.id))?.role).toBe('VIP');
    expect(roleChanges.slice(changesBefore)).toEqual([302]);
    // without a subscription, gratuito is FREE as before
    await say(main.bot, 301, '/rol 304 gratuito');
    expect(lastTo(301)).toBe('U304 (304) tiene ahora el rol «gratuito».');
    expect((await users.getById(free.id))?.role).toBe('FREE');
    const audit = await db.sql<{ target: string; details: unknown }[]>`
      select target, details from admin_audit where action = 'role' and actor = 'tg:301' order by created_at`;
    expect(audit).toEqual([
      { target: moderator.id, details: { from: 'MODERATOR', to: 'VIP' } },
      { target: free.id, details: { from: 'VIP', to: 'FREE' } },
    ]);
    const changed = await db.sql<{ key: string; envelope: string }[]>`
      select key, envelope from event_outbox where type = 'admin.role_changed' and key in (${moderator.id}, ${vip.id})`;
    expect(changed.map((r) => [r.key, JSON.parse(r.envelope).payload.role])).toEqual([[moderator.id, 'VIP']]);
    // the subscriptions run on, untouched
    const subs = await db.sql<{ status: string }[]>`
      select status from admin_subscriptions where user_id in (${moderator.id}, ${vip.id})`;
    expect(subs.map((r) => r.status)).toEqual(['active', 'active']);
  });

  it('/rol under a row lock: two concurrent changes of one user apply one after the other, each audited from the role the other left', async () => {
    await userWith(1, 'ADMIN');
    await userWith(5, 'OWNER');
    const target = await userWith(40, 'FREE');
    const barrier = createBarrier(2);
    // hold the row so both commands are in flight at once, then let them go
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => {
      locked = resolve;
    });
    const holding = db.transaction(async (tx) => {
      await tx`select 1 from users where id = ${target.id} for update`;
      locked();
      await released;
    });
    // the commands start only once the row is held (on a busy machine they could otherwise
    // take the row first and finish, leaving nothing waiting)
    await isLocked;
    const waiting = async () =>
      (
        await db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock' and query ilike '%users%'`
      )[0]?.n ?? 0;
    const changes = [
      [1, 'VIP'],
      [5, 'CONTENT_CREATOR'],
    ].map(async ([tg, role]) => {
      await barrier.wait();
      await say((tg === 1 ? main : other).bot, tg as number, `/rol 40 ${role}`);
    });
    const deadline = Date.now() + 10_000;
    while ((await waiting()) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(await waiting()).toBe(2); // contention: both commands wait for the row
    release();
    await holding;
    await Promise.all(changes);
    const audit = await db.sql<{ details: { from: string; to: string } }[]>`
      select details from admin_audit where target = ${target.id} and action = 'role' order by created_at`;
    expect(audit).toHaveLength(2);
    const [first, second] = audit.map((a) => a.details);
    expect(first?.from).toBe('FREE');
    expect(second?.from).toBe(first?.to); // the second saw what the first left
    expect(new Set([first?.to, second?.to])).toEqual(new Set(['VIP', 'CONTENT_CREATOR']));
    expect((await users.getById(target.id))?.role).toBe(second?.to);
  });

  it('/dlq replay of a dead-lettered event gets it handled', async () => {
    let failing = true;
    const handled: string[] = [];
    bus.subscribe('flaky-group', 'admin.role_changed', async (event) => {
      if (failing) throw new Error('handler broken');
      handled.push(event.payload.user_id);
    });
    const [earlier] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from event_outbox where type = 'admin.role_changed'`;
    await bus.publish('admin.role_changed', { user_id: 'u-dlq', role: 'VIP', by: 'test' });
    // the group was created at the start of the retained stream: the earlier role changes fail
    // too; wait until every one of them is a dead letter (on a busy machine some came later)
    const expected = (earlier?.n ?? 0) + 1;
    const deadline = Date.now() + 10_000;
    while ((await bus.dlq.list('admin.role_changed', 100)).length < expected && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await say(main.bot, 1, '/dlq list admin.role_changed');
    expect(lastTo(1)).toContain('flaky-group: Error: handler broken');
    failing = false;
    await say(main.bot, 1, '/dlq replay admin.role_changed');
    expect(lastTo(1)).toBe(expected === 1 ? 'Reenviado 1 evento.' : `Reenviados ${expected} eventos.`);
    while (!handled.includes('u-dlq') && Date.now() < deadline + 5_000) await new Promise((r) => setTimeout(r, 20));
    expect(handled).toContain('u-dlq');
  });
  it('/dlq list longer than one message goes as several, each ≤ 4096, cut at line ends', async () => {
    await userWith(1, 'ADMIN');
    const problem = `fallo ${'x'.repeat(250)}`;
    bus.subscribe('paging-group', 'admin.subscription_expiring', async () => {
      throw new Error(problem);
    });
    for (let i = 0; i < 20; i++)
      await bus.publish('admin.subscription_expiring', {
        user_id: `u-page-${i}`,
        ends_at: new Date(0).toISOString(),
        notice: '7d',
      });
    const deadline = Date.now() + 10_000;
    while ((await bus.dlq.list('admin.subscription_expiring', 20)).length < 20 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const letters = await bus.dlq.list('admin.subscription_expiring', 20);
    expect(letters).toHaveLength(20);
    const before = api.sentTo(1).length;
    await say(main.bot, 1, '/dlq list admin.subscription_expiring');
    const pages = api
      .sentTo(1)
      .slice(before)
      .map((c) => String(c.payload.text));
    expect(pages.length).toBeGreaterThan(1); // about 5 500 characters in all
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(4_096);
    const lines = pages.flatMap((page) => page.split('\n'));
    expect(lines).toEqual(letters.map((l) => `${l.dlq_id} paging-group: Error: ${problem}`));
  });
});

describe('the jobs loop reports its health', () => {
  it('counts failed passes in a row while it cannot work, and recovers by itself', async () => {
    const { destination, lines: logged } = captureLogLines();
    const logger = createLogger({ level: 'debug', destination });
    const lines = (level: string, msg: string) => logged.filter((line) => line.level === level && line.msg === msg);
    const jobsDb = await useTestDatabase('admin-jobs');
    const other = createPostgres({ url: jobsDb.url, direct_url: jobsDb.direct_url, pool_max: 2 });
    try {
      await migrate(other, [DB_MIGRATIONS]); // the admin tables are missing: every pass fails
      const admin = createAdminModule(
        { timezone: 'Europe/Madrid' },
        { db: other, bus, config, tokens, api: () => makeBot().bot.api, botUsername: () => 'diana_bot', clock, logger },
      );
      expect(admin.jobsStatus().running).toBe(false);
      admin.startJobs(30);
      expect(await until(() => admin.jobsStatus().consecutive_failures >= 2)).toBe(true);
      expect(admin.jobsStatus()).toMatchObject({ running: true, last_ok_at: undefined });
      await migrate(other, [
        DB_MIGRATIONS,
        EVENT_BUS_MIGRATIONS,
        SECURITY_MIGRATIONS,
        CONFIG_MIGRATIONS,
        ADMIN_MIGRATIONS,
      ]);
      expect(await until(() => admin.jobsStatus().consecutive_failures === 0)).toBe(true);
      expect(admin.jobsStatus().last_ok_at).toBeGreaterThan(0);
      // logged once per outage, not at every pass: one warning, the repeats at debug, one recovery
      const failed = 'admin jobs failed; trying again at the next pass';
      expect(lines('warn', failed)).toHaveLength(1);
      expect(lines('debug', failed).length).toBeGreaterThanOrEqual(1);
      expect(logged.filter((line) => line.level === 'error')).toEqual([]); // a failed pass was an error line
      const recovered = lines('info', 'admin jobs work again');
      expect(recovered).toHaveLength(1);
      expect(recovered[0]?.failures).toBeGreaterThanOrEqual(2);
      await admin.close();
      expect(admin.jobsStatus().running).toBe(false);
    } finally {
      await other.close();
    }
  });
});
