// The staff screens through a real grammY bot on PostgreSQL: /admin, /programados and
// /cancelar_post, /tarifas, /revocar, /usuario, /auditoria, /dlq purge, /stats, /config back
// to the default, and the subscription lookup the app's profile uses.
import { CONFIG_EVENTS, CONFIG_MIGRATIONS, createConfigManager, defineTemplate } from '@diana/config';
import { createPostgres, createUserRepository, DB_MIGRATIONS, migrate, type UserRole } from '@diana/db';
import {
  createEventBus,
  createMemoryTransport,
  createOutboxRelay,
  EVENT_BUS_MIGRATIONS,
  mergeEvents,
} from '@diana/event-bus';
import { createTokenService, SECURITY_MIGRATIONS } from '@diana/security';
import { createRecordingApi, createUpdateFactory, FAKE_BOT_INFO, useTestDatabase } from '@diana/test-services';
import { createManualClock } from '@diana/utils';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { staffCommandMenu } from '../src/commands/help.js';
import { ADMIN_EVENTS } from '../src/events.js';
import { ADMIN_MIGRATIONS } from '../src/migrations.js';
import { type AdminContext, createAdminModule } from '../src/module.js';

const testDb = await useTestDatabase('admin-screens');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 10 });
const transport = createMemoryTransport();
const bus = createEventBus(
  { max_attempts: 1, backoff_base_ms: 10 },
  { transport, events: mergeEvents(ADMIN_EVENTS, CONFIG_EVENTS), db },
);
// the outbox (config.changed, the module's events) reaches the bus through the relay
const relay = createOutboxRelay({ outbox_poll_ms: 20 }, { db, transport });
const gift = defineTemplate('gamification.daily_gift_test', {
  type: 'setting',
  schema: v.object({ amount: v.pipe(v.number(), v.integer(), v.minValue(0)) }),
  defaults: { amount: 10 },
});
const config = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: [gift] });
const tokens = createTokenService({ token_pepper: 't'.repeat(40) }, { db });
const clock = createManualClock(Date.parse('2026-11-26T10:00:00Z'));
const users = createUserRepository(db);
const MAIN_CHANNEL = -1001000002;
const VIP_CHANNEL = -1001000001;
/** The balances the gamification module would report (the admin module reads no table of its). */
const balances = new Map<string, number>();

const api = createRecordingApi();
const bot = new Bot<AdminContext>('0:test', { botInfo: FAKE_BOT_INFO });
bot.api.config.use(api.transformer as never);
const admin = createAdminModule(
  { vip_channel_id: VIP_CHANNEL, main_channel_id: MAIN_CHANNEL, timezone: 'Europe/Madrid' },
  {
    db,
    bus,
    config,
    tokens,
    api: () => bot.api,
    botUsername: () => 'diana_bot',
    clock,
    balance: async (user_id) => balances.get(user_id) ?? 0,
    besitosInCirculation: async () => [...balances.values()].reduce((a, b) => a + b, 0),
  },
);
bot.use(async (ctx, next) => {
  const row = ctx.from ? await users.getByTelegramId(ctx.from.id) : undefined;
  if (row) ctx.user = { id: row.id, role: row.role, telegram_id: row.telegram_id };
  await next();
});
bot.use(admin.composer);
bot.on('message', (ctx) => ctx.reply('(unhandled)'));

beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, SECURITY_MIGRATIONS, CONFIG_MIGRATIONS, ADMIN_MIGRATIONS]);
  await config.start();
});
afterAll(async () => {
  await admin.close();
  await relay.close();
  await bus.close();
  await config.close();
  await db.close();
});

const updates = createUpdateFactory();
const say = (tg: number, text: string) => bot.handleUpdate(updates.message(tg, text) as Update);
const last = (tg: number) => api.lastText(tg);
const userWith = async (tg: number, role: UserRole) => {
  const { user } = await users.upsertFromTelegram({ id: tg, first_name: `U${tg}`, username: `user${tg}` });
  return role === 'FREE' ? user : users.setRole(user.id, role);
};
const waitFor = async (check: () => Promise<boolean> | boolean, what: string) => {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};
const audited = async (action: string) =>
  (await db.sql<{ n: number }[]>`select count(*)::int as n from admin_audit where action = ${action}`)[0]?.n ?? 0;
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

describe('staff screens', () => {
  it('/admin lists the commands the caller may use, one usage line each; below CONTENT_CREATOR it does not exist', async () => {
    await userWith(101, 'ADMIN');
    await userWith(102, 'MODERATOR');
    await userWith(103, 'CONTENT_CREATOR');
    await userWith(104, 'VIP');
    await say(101, '/admin');
    const forAdmin = last(101);
    expect(forAdmin).toMatch(/^Tus comandos de staff \(rol «administrador»\):/);
    for (const usage of ['/dlq list|replay|purge', '/config', '/revocar', '/tarifas', '/ban <id> [motivo]', '/unban'])
      expect(forAdmin).toContain(usage);
    expect(forAdmin).toContain('/programados — publicaciones programadas pendientes');
    await say(102, '/admin');
    const forModerator = last(102);
    expect(forModerator).toContain('/ban <id> [motivo] — banea a un usuario');
    expect(forModerator).toContain('/usuario');
    expect(forModerator).toContain('/auditoria');
    expect(forModerator).not.toContain('/config');
    expect(forModerator).not.toContain('/token');
    await say(103, '/admin');
    expect(last(103)).toContain('/programar');
    expect(last(103)).not.toContain('/stats');
    await say(104, '/admin');
    expect(last(104)).toBe('(unhandled)');
    // the same lists for the app's per-role command menu
    expect(staffCommandMenu('VIP')).toEqual([]);
    expect(staffCommandMenu('CONTENT_CREATOR').map((c) => c.command)).toEqual([
      'admin',
      'programar',
      'programados',
      'cancelar_post',
    ]);
    expect(staffCommandMenu('MODERATOR')).toContainEqual({ command: 'ban', description: 'banea a un usuario' });
    for (const entry of staffCommandMenu('OWNER')) {
      expect(entry.command).toMatch(/^[a-z0-9_]{1,32}$/);
      expect(entry.description.length).toBeGreaterThan(2);
    }
    // a MODERATOR is told, not ignored, for an ADMIN command
    await say(102, '/tarifas');
    expect(last(102)).toBe('No tienes permiso para hacer esto.');
  });

  it('/programados lists pending posts; /cancelar_post cancels a pending one (audited), never one published or publishing', async () => {
    await userWith(101, 'ADMIN');
    await say(
      101,
      `/programar ${localIn(2 * 3_600_000)} Primera publicación con bastantes palabras para que el resumen tenga que cortarse en algún punto razonable`,
    );
    await say(101, `/programar ${localIn(3 * 3_600_000)} ${VIP_CHANNEL} Solo para VIP`);
    await say(101, '/programados');
    const listing = last(101).split('\n');
    expect(listing[0]).toBe('2 publicaciones programadas pendientes:');
    expect(listing[1]).toMatch(
      new RegExp(`^[0-9a-f]{8} · ${localIn(2 * 3_600_000)} · canal principal · Primera publicación .*…$`),
    );
    expect(listing[2]).toMatch(new RegExp(`^[0-9a-f]{8} · ${localIn(3 * 3_600_000)} · canal VIP · Solo para VIP$`));
    const first = listing[1]?.slice(0, 8) as string;
    const second = listing[2]?.slice(0, 8) as string;

    await say(101, `/cancelar_post ${first}`);
    expect(last(101)).toMatch(
      new RegExp(`^Cancelada la publicación ${first} \\(era para hoy a las \\d{1,2}:\\d{2}\\)\\.$`),
    );
    expect(await audited('cancel_post')).toBe(1);
    await say(101, `/cancelar_post ${first}`);
    expect(last(101)).toBe(`La publicación ${first} no se puede cancelar: ya estaba cancelada.`);
    await say(101, '/programados');
    expect(last(101)).toMatch(/^1 publicación programada pendiente:\n[0-9a-f]{8} · /);

    // the jobs publish only the one still pending
    clock.advance(4 * 3_600_000);
    expect((await admin.runJobs()).published).toBe(1);
    expect(api.sentTo(MAIN_CHANNEL)).toHaveLength(0);
    await say(101, `/cancelar_post ${second}`);
    expect(last(101)).toBe(`La publicación ${second} no se puede cancelar: ya se publicó.`);

    await say(101, `/programar ${localIn(3_600_000)} Otra`);
    await db.sql`update admin_scheduled_posts set status = 'publishing' where status = 'pending'`;
    const [claimed] = await db.sql<
      { id: string }[]
    >`select id::text from admin_scheduled_posts where status = 'publishing'`;
    const third = String(claimed?.id).replace(/-/g, '').slice(-8);
    await say(101, `/cancelar_post ${third}`);
    expect(last(101)).toBe(`La publicación ${third} no se puede cancelar: se está publicando ahora mismo.`);
    await db.sql`update admin_scheduled_posts set status = 'published' where status = 'publishing'`;

    await say(101, '/cancelar_post zzz');
    expect(last(101)).toMatch(/^«zzz» no es el id de una publicación/);
    await say(101, '/cancelar_post 00000000');
    expect(last(101)).toBe('No hay ninguna publicación programada con el id 00000000.');
    await say(101, '/programados');
    expect(last(101)).toBe('No hay publicaciones programadas pendientes.');
    expect(await audited('cancel_post')).toBe(1);
  });

  it('/cancelar_post: a CONTENT_CREATOR cancels posts of the configured channels only', async () => {
    await userWith(101, 'ADMIN');
    await userWith(103, 'CONTENT_CREATOR');
    await say(101, `/programar ${localIn(3_600_000)} -100999999 Para otro chat`);
    await say(101, `/programar ${localIn(3_600_000)} Para el canal principal`);
    await say(103, '/programados');
    const ids = last(103)
      .split('\n')
      .slice(1)
      .map((line) => line.slice(0, 8));
    const other = last(103)
      .split('\n')
      .find((line) => line.includes('chat -100999999'))
      ?.slice(0, 8) as string;
    const mine = ids.find((id) => id !== other) as string;
    await say(103, `/cancelar_post ${other}`);
    expect(last(103)).toBe('Solo un ADMIN puede cancelar publicaciones de chats fuera de los canales configurados.');
    await say(103, `/cancelar_post ${mine}`);
    expect(last(103)).toMatch(/^Cancelada la publicación /);
    await say(101, `/cancelar_post ${other}`);
    expect(last(101)).toMatch(/^Cancelada la publicación /);
    await say(101, '/programados');
    expect(last(101)).toBe('No hay publicaciones programadas pendientes.');
  });

  it('/programados and /cancelar_post never cut an emoji in half (Telegram refuses a lone surrogate)', async () => {
    await userWith(101, 'ADMIN');
    // a lone surrogate is not UTF-8: String.prototype.isWellFormed, which ES2023's types lack
    const wellFormed = (text: string) => !/\p{Cs}/u.test(text);
    // "a" then emoji: the 60th UTF-16 unit is the first half of the 30th (before: it was kept alone)
    const text = `a${'😀'.repeat(40)}`;
    await say(101, `/programar ${localIn(3_600_000)} ${text}`);
    await say(101, '/programados');
    const line = last(101)
      .split('\n')
      .find((l) => l.includes('😀')) as string;
    expect(wellFormed(line)).toBe(true);
    expect(line).toMatch(new RegExp(`· a${'😀'.repeat(29)}…$`, 'u'));
    // an echo of what was typed, cut at 40 units (the 40th is the first half of the 20th emoji)
    await say(101, `/cancelar_post x${'😀'.repeat(30)}`);
    expect(wellFormed(last(101))).toBe(true);
    expect(last(101)).toContain(`«x${'😀'.repeat(19)}»`);
    await db.sql`update admin_scheduled_posts set status = 'cancelled' where status = 'pending'`;
  });

  it('/tarifas lists each tariff with its days and a decimal-comma price', async () => {
    await userWith(101, 'ADMIN');
    await say(101, '/tarifas');
    expect(last(101)).toBe('Aún no hay tarifas. Crea una con /tarifa <nombre> <días> <precio>.');
    await say(101, '/tarifa mensual 30 9,99');
    await say(101, '/tarifa dia 1 1');
    await say(101, '/tarifas');
    expect(last(101)).toBe('2 tarifas:\n• dia: 1 día, 1,00\n• mensual: 30 días, 9,99');
  });

  it('/revocar ends an unredeemed VIP link (by link or by id), audited; a redeemed or revoked one is refused with the reason', async () => {
    await userWith(101, 'ADMIN');
    await userWith(105, 'FREE');
    await say(101, '/token mensual');
    // the subscription's length and the link's own life (token_ttl_ms, 7 days by default)
    expect(last(101)).toMatch(
      /^Enlace VIP de un solo uso \(30 días de VIP\), válido hasta el \d{1,2} de \p{L}+(?: de \d{4})? a las? \d{1,2}:\d{2}:\n/u,
    );
    const link = /https:\/\/t\.me\/diana_bot\?start=vip_[A-Za-z0-9_-]{32}/.exec(last(101))?.[0] as string;
    expect(link).toBeDefined();
    await say(101, `/revocar ${link}`);
    expect(last(101)).toBe('Enlace revocado: ya no sirve para canjear la tarifa mensual.');
    expect(await audited('revoke_token')).toBe(1);
    await say(105, `/start ${link.split('start=')[1]}`);
    expect(last(105)).toBe('Este enlace se anuló. Si crees que es un error, pide uno nuevo.');
    expect((await users.getByTelegramId(105))?.role).toBe('FREE');
    await say(101, `/revocar ${link}`);
    expect(last(101)).toBe('Ese enlace ya estaba revocado: nadie puede usarlo.');

    // by the id the audit log keeps
    await say(101, '/token dia');
    const [issued] = await db.sql<{ id: string }[]>`
      select details->>'token_id' as id from admin_audit where action = 'token' order by created_at desc limit 1`;
    await say(101, `/revocar ${issued?.id}`);
    expect(last(101)).toBe('Enlace revocado: ya no sirve para canjear la tarifa dia.');

    // a redeemed one stays redeemed
    await say(101, '/token mensual');
    const used = /vip_[A-Za-z0-9_-]{32}/.exec(last(101))?.[0] as string;
    await say(105, `/start ${used}`);
    expect((await users.getByTelegramId(105))?.role).toBe('VIP');
    await say(101, `/revocar ${used}`);
    expect(last(101)).toBe('Ese enlace ya se canjeó: no se puede revocar (la suscripción sigue en curso).');
    await say(101, '/revocar hola');
    expect(last(101)).toMatch(/^Indica el enlace VIP/);
    await say(101, `/revocar ${'A'.repeat(32)}`);
    expect(last(101)).toBe('No existe ningún enlace VIP con ese token o id.');
    expect(await audited('revoke_token')).toBe(2);
  });

  it('/usuario shows role, balance (through the port), VIP until a human date and last seen; subscription() agrees', async () => {
    await userWith(102, 'MODERATOR');
    const fan = await users.getByTelegramId(105); // VIP since the last test, on tariff mensual
    expect(fan).toBeDefined();
    balances.set(fan?.id as string, 42);
    await users.touchLastSeen(fan?.id as string, new Date(clock.now() - 3_600_000));
    const sub = await admin.subscription(fan?.id as string);
    expect(sub?.tariff).toBe('mensual');
    const until = new Intl.DateTimeFormat('es-ES', { timeZone: 'Europe/Madrid', day: 'numeric', month: 'long' }).format(
      sub?.ends_at,
    );
    await say(102, '/usuario 105');
    const card = last(102);
    expect(card).toBe(
      [
        'U105 (@user105) · id 105',
        'Rol: VIP',
        'Saldo: 42 besitos',
        `VIP: sí, hasta el ${until} (tarifa mensual)`,
        `Última actividad: ${card.split('Última actividad: ')[1]}`,
      ].join('\n'),
    );
    expect(card).toMatch(/Última actividad: hoy a las? \d{1,2}:\d{2}$/);
    expect(until).toMatch(/^\d{1,2} de [a-z]+$/);
    await say(102, '/usuario @USER105');
    expect(last(102)).toBe(card);

    // the VIP role given by hand (/rol … vip): no subscription behind it, said so
    const byHand = await userWith(106, 'VIP');
    await say(102, '/usuario 106');
    expect(last(102)).toMatch(
      /\nRol: VIP\n(Saldo: .*\n)?VIP: sin suscripción: el rol VIP se puso con \/rol y no vence\n/,
    );
    await users.setRole(byHand.id, 'FREE');

    const free = await userWith(106, 'FREE');
    balances.set(free.id, 1);
    expect(await admin.subscription(free.id)).toBeUndefined();
    await say(102, '/usuario 106');
    // a user is created seen (last_seen_at set at first sight)…
    expect(last(102)).toMatch(
      /Rol: gratuito\nSaldo: 1 besito\nVIP: no\nÚltima actividad: (hoy|el \d{1,2} de [a-z]+) a las? \d{1,2}:\d{2}$/,
    );
    // …and a row from before that (last_seen_at null) reads "nunca"
    await db.sql`update users set last_seen_at = null where id = ${free.id}`;
    await say(102, '/usuario 106');
    expect(last(102)).toContain('Rol: gratuito\nSaldo: 1 besito\nVIP: no\nÚltima actividad: nunca');
    await users.setStatus(free.id, 'blocked');
    await say(102, '/usuario 106');
    expect(last(102)).toMatch(/Última actividad: nunca\nHa bloqueado el bot: no le llegan mensajes\.$/);
    await users.setStatus(free.id, 'active');
    // a name that would reorder what follows it (a right-to-left override, an isolate left open)
    // is shown without those characters: the id after it reads as it is
    await users.upsertFromTelegram({ id: 107, first_name: '\u202Egnp.exe\u2066', last_name: 'X\u202B' });
    await say(102, '/usuario 107');
    expect(last(102).split('\n')[0]).toBe('gnp.exe X · id 107');
    // nor those that show nothing: a name staff read as another's ("A\u200Dna" looks like "Ana")
    await users.upsertFromTelegram({ id: 108, first_name: 'A\u200Dn\u200Ba\u200F', last_name: '\u3164' });
    await say(102, '/usuario 108');
    expect(last(102).split('\n')[0]).toBe('Ana · id 108');
    await say(102, '/usuario @nadie_aqui');
    expect(last(102)).toBe('Nadie con el nombre de usuario @nadie_aqui ha escrito al bot.');
    await say(102, '/usuario 99999');
    expect(last(102)).toBe('No encuentro a ese usuario.');
    await say(102, '/usuario -5');
    expect(last(102)).toBe('«-5» no es ni un id numérico de Telegram ni un @usuario.');
    await say(102, '/usuario');
    expect(last(102)).toBe('Uso: /usuario <id de Telegram | @usuario>');
    await say(106, '/usuario 105');
    expect(last(106)).toBe('(unhandled)');
  });

  it('/ban and /unban name the target; /auditoria tells the last actions in Spanish, newest first', async () => {
    await userWith(102, 'MODERATOR');
    await userWith(107, 'FREE');
    await say(102, '/ban 107 spam');
    expect(last(102)).toBe('Has baneado a U107 (107): el bot ya no le contesta.');
    await say(102, '/unban 107');
    expect(last(102)).toBe('Has quitado el baneo a U107 (107); su rol ahora es «gratuito».');
    await say(102, '/auditoria');
    const lines = last(102).split('\n');
    expect(lines[0]).toBe('Las últimas 10 acciones registradas:');
    expect(lines).toHaveLength(11);
    expect(lines[1]).toMatch(
      /^(Hoy|Ayer|Mañana|El \d{1,2} de [a-z]+) a las? \d{1,2}:\d{2} · U102 \(102\) quitó el baneo a U107 \(107\) \(ahora «gratuito»\)$/,
    );
    expect(lines[2]).toMatch(/ · U102 \(102\) baneó a U107 \(107\) \(motivo: «spam»\)$/);
    expect(lines.join('\n')).toContain('U105 (105) canjeó un enlace VIP (tarifa mensual)');
    expect(lines.join('\n')).toContain('U101 (101) revocó un enlace VIP de la tarifa');
    expect(lines.join('\n')).not.toMatch(/[{}]|tg:|undefined/);
    await say(102, '/auditoria 1');
    expect(last(102).split('\n')[0]).toBe('La última acción registrada:');
  });

  it('a name with line breaks and characters that show nothing is shown on one line, as it looks, in every staff reply', async () => {
    await userWith(102, 'MODERATOR');
    // stored as Telegram sent it (a row written before names were put on one line)
    const { user } = await users.upsertFromTelegram({
      id: 81101,
      first_name: 'A\u00ADna\u2028Rol: Administrador',
      last_name: 'G\u00F3mez\nSaldo: 99999 besitos\r\nVIP: s\u00ED\u2029\u034F\uFE00\u{E0041}',
    });
    balances.set(user.id, 50);
    const invisible = /[\n\r\u2028\u2029\u00AD\u{E0041}]|\u034F|\uFE00/u;
    await say(102, '/usuario 81101');
    const card = last(102).split('\n');
    // before: "A\u00ADna\u2028Rol: Administrador Gómez" / "Saldo: 99999 besitos" / "VIP: sí · id 81101"
    expect(card[0]).toBe('Ana Rol: Administrador Gómez Saldo: 99999 besitos VIP: sí · id 81101');
    expect(card[1]).toBe('Rol: gratuito');
    expect(card[2]).toBe('Saldo: 50 besitos');
    expect(card[0]).not.toMatch(invisible);
    await say(102, '/ban 81101 spam');
    expect(last(102)).toBe('Has baneado a Ana Rol: Administrador (81101): el bot ya no le contesta.');
    await say(102, '/auditoria 1');
    const [, line] = last(102).split('\n');
    expect(line).toMatch(/ · U102 \(102\) baneó a Ana Rol: Administrador \(81101\) \(motivo: «spam»\)$/);
    await say(102, '/unban 81101'); // the /stats test counts roles
    expect(last(102)).toBe('Has quitado el baneo a Ana Rol: Administrador (81101); su rol ahora es «gratuito».');
    // what emoji need stays: a variation selector after an emoji, a tag sequence (the flag of England)
    await users.upsertFromTelegram({
      id: 81102,
      first_name: 'Bea \u2764\uFE0F \u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F}',
    });
    await say(102, '/usuario 81102');
    expect(last(102).split('\n')[0]).toBe(
      'Bea \u2764\uFE0F \u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} · id 81102',
    );
  });

  it('/dlq purge asks first and purges only when confirmed, counting with the right plural', async () => {
    await userWith(101, 'ADMIN');
    // types nothing published before in this file: the group also gets what the stream retains
    bus.subscribe('broken-group', ['admin.subscription_expiring', 'admin.subscription_expired'], async () => {
      throw new Error('broken');
    });
    for (let i = 0; i < 3; i++)
      await bus.publish('admin.subscription_expiring', {
        user_id: `u${i}`,
        ends_at: new Date(0).toISOString(),
        notice: '7d',
      });
    await bus.publish('admin.subscription_expired', { user_id: 'u9' });
    await waitFor(
      async () => (await bus.dlq.list('admin.subscription_expiring', 10)).length === 3,
      'three dead letters',
    );
    await waitFor(async () => (await bus.dlq.list('admin.subscription_expired', 10)).length === 1, 'one dead letter');
    // /stats names them: staff see what failed for good without reading the logs
    await say(101, '/stats');
    expect(last(101)).toContain(
      'Eventos fallidos sin entregar (/dlq list <tipo>):\n• admin.subscription_expired: 1 evento\n• admin.subscription_expiring: 3 eventos',
    );

    const expiring = (await bus.dlq.list('admin.subscription_expiring', 10)).map((l) => l.dlq_id);
    await say(101, '/dlq purge admin.subscription_expiring');
    expect(last(101)).toBe(
      `Hay 3 eventos fallidos de admin.subscription_expiring. Se borrarán sin reenviarse. Para confirmarlo escribe:\n/dlq purge admin.subscription_expiring confirmar ${expiring[2]}`,
    );
    expect(await bus.dlq.list('admin.subscription_expiring', 10)).toHaveLength(3);
    expect(await audited('dlq_purge')).toBe(0);
    // two more fail before the admin confirms: they are not the ones asked about, and stay
    for (let i = 3; i < 5; i++)
      await bus.publish('admin.subscription_expiring', {
        user_id: `u${i}`,
        ends_at: new Date(0).toISOString(),
        notice: '7d',
      });
    await waitFor(async () => (await bus.dlq.list('admin.subscription_expiring', 10)).length === 5, 'five');
    // `confirmar` alone (or naming a letter that is gone) deletes nothing: it asks again
    await say(101, '/dlq purge admin.subscription_expiring confirmar');
    expect(last(101)).toMatch(/^Los eventos fallidos han cambiado desde la pregunta: no se ha borrado nada\.\nHay 5/);
    expect(await audited('dlq_purge')).toBe(0);
    await say(101, `/dlq purge admin.subscription_expiring confirmar ${expiring[2]}`);
    expect(last(101)).toBe('Borrados 3 eventos.'); // before: 'Borrados 5 eventos.'
    const left = (await bus.dlq.list('admin.subscription_expiring', 10)).map((l) => l.dlq_id);
    expect(left).toHaveLength(2);
    expect(left.some((id) => expiring.includes(id))).toBe(false);
    expect(await audited('dlq_purge')).toBe(1);
    await say(101, `/dlq purge admin.subscription_expiring confirmar ${left[1]}`);
    expect(last(101)).toBe('Borrados 2 eventos.');
    await say(101, '/dlq purge admin.subscription_expiring');
    expect(last(101)).toBe('No hay eventos fallidos de admin.subscription_expiring.');

    await say(101, '/dlq purge admin.subscription_expired');
    expect(last(101)).toMatch(/^Hay 1 evento fallido de admin\.subscription_expired\./);
    const [expired] = await bus.dlq.list('admin.subscription_expired', 10);
    await say(101, `/dlq purge admin.subscription_expired confirmar ${expired?.dlq_id}`);
    expect(last(101)).toBe('Borrado 1 evento.');
    await say(101, '/dlq purge nada.de.nada confirmar');
    expect(last(101)).toBe('No hay ningún tipo de evento «nada.de.nada» (p. ej. gamification.besitos_awarded).');
    await say(101, '/dlq borrar x');
    expect(last(101)).toBe('Uso: /dlq list|replay|purge <tipo de evento>');
  });

  it('/dlq purge of more than 1 000 letters says the total, and its confirmation deletes the oldest 1 000 it counted', async () => {
    await userWith(101, 'ADMIN');
    // the new group also gets the posts published before in this file
    const [{ earlier } = { earlier: 0 }] = await db.sql<{ earlier: number }[]>`
      select count(*)::int as earlier from event_outbox where type = 'admin.post_published'`;
    bus.subscribe('broken-posts', 'admin.post_published', async () => {
      throw new Error('broken');
    });
    for (let i = 0; i < 1_005 - earlier; i++)
      await bus.publish('admin.post_published', { post_id: `p${i}`, channel_id: '-1', message_id: i + 1 });
    await waitFor(async () => (await transport.countDeadLetters('admin.post_published')) === 1_005, '1 005 letters');
    const newest = (await bus.dlq.list('admin.post_published', 1_000)).at(-1)?.dlq_id;
    await say(101, '/dlq purge admin.post_published');
    // before: 'Hay 1000 eventos fallidos', and the confirmation deleted all 1 005
    expect(last(101)).toBe(
      `Hay 1005 eventos fallidos de admin.post_published. Se borrarán los 1000 más antiguos, sin reenviarse. Para confirmarlo escribe:\n/dlq purge admin.post_published confirmar ${newest}`,
    );
    await say(101, `/dlq purge admin.post_published confirmar ${newest}`);
    expect(last(101)).toBe('Borrados 1000 eventos.');
    expect(await transport.countDeadLetters('admin.post_published')).toBe(5);
  }, 60_000);

  it('/stats answers in sentences: users, VIP, roles, besitos (through the port) and the event queues', async () => {
    await userWith(102, 'MODERATOR');
    await say(102, '/stats');
    const text = last(102);
    const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from users`;
    expect(text).toContain(`Hay ${row?.n} usuarios; 1 tiene una suscripción VIP activa.`);
    expect(text).toMatch(/Por rol: 1 administrador, 1 moderador, 1 creador de contenido, \d+ VIP, \d+ gratuitos\./);
    expect(text).toContain(`Entre todos tienen ${[...balances.values()].reduce((a, b) => a + b, 0)} besitos.`);
    expect(text).toMatch(/Los eventos están al día|Eventos esperando:/);
    expect(text).not.toMatch(/[{}]|pending|lag/);
  });

  it('/config: bad JSON and bad fields are named in Spanish; history shows dates; rollback default returns to the shipped value', async () => {
    await userWith(101, 'ADMIN');
    await say(101, '/config set gamification.daily_gift_test {amount: 5}');
    expect(last(101)).toBe(
      'El valor para gamification.daily_gift_test no es JSON válido (p. ej. {"amount": 25}; los textos entre comillas dobles).',
    );
    await say(101, '/config set gamification.daily_gift_test {"amount": "x"}');
    expect(last(101)).toBe(
      'Valor no válido para gamification.daily_gift_test:\n• amount: se esperaba un número, llegó "x"',
    );
    // valibot's words (number, >=0) said in Spanish
    await say(101, '/config set gamification.daily_gift_test {"amount": -1}');
    expect(last(101)).toBe(
      'Valor no válido para gamification.daily_gift_test:\n• amount: se esperaba como mínimo 0, llegó -1',
    );
    // an integer check (valibot names nothing there: it said only «no es válido»)
    await say(101, '/config set gamification.daily_gift_test {"amount": 1.5}');
    expect(last(101)).toBe(
      'Valor no válido para gamification.daily_gift_test:\n• amount: se esperaba un número entero, llegó 1.5',
    );
    // a misspelt key is named, not published as a change that changes nothing
    await say(101, '/config set gamification.daily_gift_test {"amuont": 25}');
    expect(last(101)).toBe(
      'Valor no válido para gamification.daily_gift_test:\n• amuont: esa clave no existe (las claves son amount)',
    );
    await say(101, '/config set gamification.daily_gift_test {"amount": 25}');
    await waitFor(() => config.get('gamification.daily_gift_test').amount === 25, 'the new value');
    await say(101, '/config history gamification.daily_gift_test');
    expect(last(101)).toMatch(
      /^#1 \d{4}-\d{2}-\d{2} \d{2}:\d{2} creada por U101 \(101\): \{"amount":25\}\n#2 \d{4}-\d{2}-\d{2} \d{2}:\d{2} publicada por U101 \(101\)/,
    );

    await say(101, '/config rollback gamification.daily_gift_test default');
    expect(last(101)).toBe('gamification.daily_gift_test vuelve al valor por defecto: {"amount":10}');
    await waitFor(() => config.get('gamification.daily_gift_test').amount === 10, 'the default');
    expect(await audited('config_default')).toBe(1);
    await say(101, '/config rollback gamification.daily_gift_test default');
    expect(last(101)).toBe('gamification.daily_gift_test ya usa el valor por defecto: {"amount":10}');
    await say(101, '/config set gamification.daily_gift_test {"amount": 30}');
    await waitFor(() => config.get('gamification.daily_gift_test').amount === 30, 'a value after the default');
    await say(101, '/config rollback gamification.daily_gift_test siete');
    // #1 create 25, #2 publish 25, #3 archive 25 (default), #4 create 30, #5 publish 30
    expect(last(101)).toBe(
      'gamification.daily_gift_test no tiene la revisión «siete»; sus revisiones van de #1 a #5 (/config history gamification.daily_gift_test), o default, el valor por defecto.',
    );
    // an earlier value, archived since: published again (before: the active value's revisions alone)
    await say(101, '/config rollback gamification.daily_gift_test 2');
    expect(last(101)).toBe('gamification.daily_gift_test publicado (revisión 8).'); // #6 create, #7 archive 30, #8 publish
    await waitFor(() => config.get('gamification.daily_gift_test').amount === 25, 'the earlier value');
    await say(101, '/config history gamification.daily_gift_test');
    expect(last(101)).toMatch(/^#1 .* creada por U101 \(101\): \{"amount":25\}\n/);
    expect(last(101)).toMatch(/\n#8 \d{4}-\d{2}-\d{2} \d{2}:\d{2} publicada por U101 \(101\): \{"amount":25\}$/);
  });
});
