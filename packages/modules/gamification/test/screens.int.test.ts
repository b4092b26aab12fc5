// What a user meets: every payment told once (even when its event is delivered twice), the
// missions, achievements and history screens, next-step buttons, the shop's descriptions and the
// profile summary — through a real grammY bot (recording API) and the bus on PostgreSQL.
import { randomUUID } from 'node:crypto';
import type { EventEnvelope, Subscription } from '@diana/event-bus';
import { checkHtml, checkOutgoing, createCallbackSigner, TELEGRAM_LIMITS } from '@diana/security';
import { verifyCallbacks } from '@diana/security/grammy';
import { createRecordingApi, createUpdateFactory, FAKE_BOT_INFO, until as pollUntil } from '@diana/test-services';
import { BESITOS_MAX } from '@diana/utils';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkLedgerInvariants } from '../src/ledger.js';
import { createGamificationModule, type GamificationContext } from '../src/module.js';
import { createNotices, NOTICE_GROUP } from '../src/notices.js';
import { ACHIEVEMENTS_MAX, MISSIONS_MAX, SHOP_MAX_ITEMS } from '../src/templates.js';
import { createStage, type OTHERS } from './fixtures/stage.js';

const stage = await createStage('gamification-screens');
const { db, bus, config, users } = stage;
const signer = createCallbackSigner({ callback_secret: 's'.repeat(40) });

const api = createRecordingApi();
const bot = new Bot<GamificationContext>('0:test', { botInfo: FAKE_BOT_INFO });
bot.api.config.use(api.transformer as never);
// Telegram refusing: 403 for chats that blocked the bot, 500 the next `n` times for flaky ones
const blockedChats = new Set<number>();
const flaky = new Map<number, number>();
const refused: number[] = [];
bot.api.config.use(async (prev, method, payload, signal) => {
  const chat = Number((payload as { chat_id?: number }).chat_id);
  if (method === 'sendMessage' && blockedChats.has(chat)) {
    refused.push(chat);
    return { ok: false, error_code: 403, description: 'Forbidden: bot was blocked by the user' } as never;
  }
  const failures = flaky.get(chat) ?? 0;
  if (method === 'sendMessage' && failures > 0) {
    flaky.set(chat, failures - 1);
    refused.push(chat);
    return { ok: false, error_code: 500, description: 'Internal Server Error' } as never;
  }
  return prev(method, payload, signal);
});

const gamification = createGamificationModule(
  {},
  { db, bus, config, signer, timezone: 'Europe/Madrid', api: () => bot.api },
);
beforeAll(async () => {
  await stage.start();
  for (const s of gamification.subscriptions)
    if (s.mode === 'broadcast') bus.subscribe(s.types as never, s.handler as never, { mode: 'broadcast' });
    else if (s.group === NOTICE_GROUP) startNotices();
    else bus.subscribe(s.group, s.types as never, s.handler as never);
});
/** The notices consumer, stopped and started again by the test of a crash. */
let noticesRunning: Subscription | undefined;
const startNotices = () => {
  const s = gamification.subscriptions.find((sub) => sub.group === NOTICE_GROUP);
  if (s) noticesRunning = bus.subscribe(s.group, s.types as never, s.handler as never);
};
afterAll(() => stage.close());

const ids = new Map<number, string>();
bot.use(async (ctx, next) => {
  ctx.user = { id: ids.get(ctx.from?.id ?? 0) as string, role: 'FREE', telegram_id: ctx.from?.id ?? 0 };
  await next();
});
bot.use(verifyCallbacks(signer));
bot.use(gamification.composer);
const updates = createUpdateFactory();
const command = (tg: number, text: string) => bot.handleUpdate(updates.message(tg, text) as Update);
const press = (tg: number, data: string) => bot.handleUpdate(updates.press(tg, data) as Update);
const texts = (tg: number) => api.sentTo(tg).map((c) => String(c.payload.text));
/** The notice lines that contain `fragment` (notices pending together are told in one message, a line each). */
const told = (tg: number, fragment: string) =>
  texts(tg)
    .flatMap((t) => t.split('\n'))
    .filter((line) => line.includes(fragment));
// the balance line a message of notices ends with
const endsWith = (tg: number, fragment: string) =>
  texts(tg)
    .filter((t) => t.includes(fragment))
    .map((t) => t.split('\n').at(-1));
const register = async (tg: number) => {
  const id = await db.transaction(async () => {
    const { user } = await users.upsertFromTelegram({ id: tg, first_name: `U${tg}` });
    await bus.publish('user.registered', { user_id: user.id }, { key: user.id });
    return user.id;
  });
  ids.set(tg, id);
  return id;
};
/** A registered user whose welcome notice has arrived (so later replies are the last messages). */
const welcomed = async (tg: number) => {
  const id = await register(tg);
  if (!(await until(() => told(tg, 'Tu regalo de bienvenida').length === 1))) throw new Error(`no welcome for ${tg}`);
  return id;
};
const until = (check: () => Promise<boolean> | boolean, ms = 15_000) => pollUntil(check, ms, 20);
const publish = (type: keyof typeof OTHERS, payload: Record<string, unknown>, key: string) =>
  db.transaction(() => bus.publish(type as never, payload as never, { key }));
/** The events of `type` the module published for `user`, as the bus delivers them. */
const published = async (type: string, user: string) =>
  (
    await db.sql<{ envelope: string }[]>`
      select envelope from event_outbox where type = ${type} and key = ${user} order by id`
  ).map((r) => JSON.parse(r.envelope) as EventEnvelope);
const notices = gamification.subscriptions.find((s) => s.group === NOTICE_GROUP);
const noticeState = async (event_id: string) =>
  (await db.sql<{ state: string }[]>`select state from gamification_notices where event_id = ${event_id}`)[0]?.state;
const buttons = (tg: number) => api.buttons(tg);

describe('every payment is told, once', () => {
  it('the welcome bonus is told once, even when its event is delivered three times (two at once)', async () => {
    const user = await register(401);
    expect(await until(() => told(401, 'Tu regalo de bienvenida').length === 1)).toBe(true);
    expect(told(401, 'Tu regalo de bienvenida')[0]).toBe(
      '🎁 Tu regalo de bienvenida: <b>50 besitos</b>. Úsalos en /tienda.',
    );
    const [awarded] = await published('gamification.besitos_awarded', user);
    expect(awarded).toBeDefined();
    expect(await until(async () => (await noticeState(awarded?.id as string)) === 'sent')).toBe(true);
    // a redelivery, a replay and a concurrent copy of the same event
    await Promise.all([notices?.handler(awarded as EventEnvelope), notices?.handler(awarded as EventEnvelope)]);
    await notices?.handler(awarded as EventEnvelope);
    expect(told(401, 'Tu regalo de bienvenida')).toHaveLength(1);
    // the source event handled again pays nothing new, so nothing new is told
    const registered = (await published('user.registered', user))[0] as EventEnvelope;
    const welcome = gamification.subscriptions.find((s) => s.types.includes('user.registered'));
    await welcome?.handler(registered);
    expect(await published('gamification.besitos_awarded', user)).toHaveLength(1);
    expect(told(401, 'Tu regalo de bienvenida')).toHaveLength(1);
  });

  it('a welcome bonus paid by the first /saldo (before user.registered arrives) is told once', async () => {
    const { user } = await users.upsertFromTelegram({ id: 402, first_name: 'U402' });
    ids.set(402, user.id);
    await command(402, '/saldo');
    expect(texts(402)[0]).toContain('50 besitos');
    await publish('user.registered', { user_id: user.id }, user.id);
    const handled = async () =>
      (
        await db.sql`select 1 from event_inbox where group_name = 'gamification' and event_id in (
          select id from event_outbox where type = 'user.registered' and key = ${user.id})`
      ).length === 1;
    expect(await until(handled)).toBe(true);
    expect(await until(() => told(402, 'Tu regalo de bienvenida').length === 1)).toBe(true);
    expect(await published('gamification.besitos_awarded', user.id)).toHaveLength(1);
  });

  it('story rewards, the achievement they unlock and a completed mission are each told', async () => {
    const user = await register(403);
    await publish('narrative.decision_made', { user_id: user, reward: 15 }, user);
    await publish('narrative.fragment_completed', { user_id: user, fragment: 'f1' }, user);
    expect(await until(() => told(403, 'por tu decisión').length === 1)).toBe(true);
    expect(told(403, 'por tu decisión')[0]).toBe('💋 +15 besitos por tu decisión en la historia.');
    expect(await until(() => told(403, 'por avanzar en la historia').length === 1)).toBe(true);
    expect(told(403, 'por avanzar')[0]).toBe('💋 +1 besito por avanzar en la historia.'); // singular
    expect(await until(() => told(403, 'Logro conseguido').length === 1)).toBe(true);
    expect(told(403, 'Logro conseguido')[0]).toBe('🏆 Logro conseguido: <b>Primera decisión</b>. +50 besitos.');
    // three reactions complete the daily mission
    for (const post of ['a', 'b', 'c']) await press(403, gamification.reactButton(post).callback_data as string);
    expect(await until(() => told(403, 'Misión cumplida').length === 1)).toBe(true);
    expect(told(403, 'Misión cumplida')[0]).toBe(
      '🎯 Misión cumplida: <b>Reacciona a 3 publicaciones</b>. +20 besitos.',
    );
    // each message of notices ends with the balance read when they were claimed: the last one's is
    // the ledger's (50 + 15 + 1 + 50 + 3 × 2 + 20), and no message shows less than one before it
    const balances = texts(403)
      .map((t) => /\nAhora tienes (\d+) besitos\.$/.exec(t)?.[1])
      .filter((b) => b !== undefined)
      .map(Number);
    expect(balances.length).toBeGreaterThanOrEqual(2);
    expect(balances.at(-1)).toBe(142);
    expect(await gamification.ledger.balance(user)).toBe(142);
    expect(balances).toEqual([...balances].sort((a, b) => a - b));
    expect(endsWith(403, 'por tu decisión')[0]).toMatch(/^Ahora tienes \d+ besitos\.$/);
    // reactions are answered where they happen: no message for each
    expect(told(403, 'reacción')).toHaveLength(0);
  });

  it("an admin's grant and take are told with the reason and what was actually done", async () => {
    const user = await register(404);
    expect(await until(async () => (await gamification.ledger.balance(user)) === 50)).toBe(true);
    await publish('admin.besitos_granted', { user_id: user, amount: 30, reason: 'por <ayudar>', actor: 'tg:1' }, user);
    expect(await until(() => told(404, 'El equipo te ha dado').length === 1)).toBe(true);
    expect(told(404, 'El equipo te ha dado')[0]).toBe('🎁 El equipo te ha dado <b>30 besitos</b>: por &lt;ayudar&gt;.');
    expect(endsWith(404, 'El equipo te ha dado')).toEqual(['Ahora tienes 80 besitos.']);
    await publish('admin.besitos_granted', { user_id: user, amount: -500, reason: 'corrección', actor: 'tg:1' }, user);
    expect(await until(() => told(404, 'El equipo te ha quitado').length === 1)).toBe(true);
    // 80 were there: 80 taken, not 500
    expect(told(404, 'El equipo te ha quitado')[0]).toBe('El equipo te ha quitado <b>80 besitos</b>: corrección.');
    expect(endsWith(404, 'El equipo te ha quitado')).toEqual(['Ahora tienes 0 besitos.']);
    // nothing left to take: nothing done, nothing told
    await publish('admin.besitos_granted', { user_id: user, amount: -5, reason: 'otra', actor: 'tg:1' }, user);
    expect(await until(async () => (await published('gamification.adjustment_applied', user)).length === 3)).toBe(true);
    const last = (await published('gamification.adjustment_applied', user))[2] as EventEnvelope;
    await notices?.handler(last);
    expect(await noticeState(last.id)).toBeUndefined();
    expect(told(404, 'El equipo te ha')).toHaveLength(2);
  });

  it("control characters in an admin's reason reach neither the notice nor /historial", async () => {
    const ESC = '\u001B';
    const user = await welcomed(440);
    // before: "…: prueba \u001B[2J\u001B[31mROJO." — the console chat was cleared and recoloured
    await publish(
      'admin.besitos_granted',
      { user_id: user, amount: 100, reason: `prueba ${ESC}[2J${ESC}[31mROJO\nSaldo: 1`, actor: 'tg:1' },
      user,
    );
    expect(await until(() => told(440, 'El equipo te ha dado').length === 1)).toBe(true);
    expect(told(440, 'El equipo te ha dado')[0]).toBe(
      '🎁 El equipo te ha dado <b>100 besitos</b>: prueba [2J[31mROJO Saldo: 1.',
    );
    const [row] = await db.sql<{ note: string }[]>`
      select note from besitos_transactions where user_id = ${user} and source = 'admin'`;
    expect(row?.note).toBe('prueba [2J[31mROJO Saldo: 1');
    // a note stored before reasons were normalized is shown normalized
    await db.sql`update besitos_transactions set note = ${`viejo ${ESC}[2J\u0007motivo`} where user_id = ${user} and source = 'admin'`;
    await command(440, '/historial');
    expect(api.lastText(440)).toContain('ajuste del equipo: viejo [2Jmotivo\n');
    expect(api.lastText(440)).not.toContain(ESC);
  });

  it('a long reason is cut to 200 characters, never through an emoji (Telegram refuses the lone half)', async () => {
    const user = await welcomed(441);
    // before: the cut fell between the two halves of 😘 and the stored note ended in U+FFFD
    const reason = `${'a'.repeat(199)}😘 y más`;
    await publish('admin.besitos_granted', { user_id: user, amount: 10, reason, actor: 'tg:1' }, user);
    expect(await until(() => told(441, 'El equipo te ha dado').length === 1)).toBe(true);
    const [row] = await db.sql<{ note: string }[]>`
      select note from besitos_transactions where user_id = ${user} and source = 'admin'`;
    expect(row?.note).toBe('a'.repeat(199));
    expect(told(441, 'El equipo te ha dado')[0]).toContain(`${'a'.repeat(199)}.`);
    expect(told(441, 'El equipo te ha dado')[0]).not.toMatch(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|\uFFFD/);
  });

  it('a user who blocked the bot (403) is still paid; the notice is recorded as undeliverable and not retried', async () => {
    blockedChats.add(405);
    const user = await register(405);
    expect(await until(async () => (await gamification.ledger.balance(user)) === 50)).toBe(true);
    const [awarded] = await published('gamification.besitos_awarded', user);
    expect(await until(async () => (await noticeState(awarded?.id as string)) === 'undeliverable')).toBe(true);
    expect(refused.filter((c) => c === 405)).toHaveLength(1);
    await notices?.handler(awarded as EventEnvelope); // a redelivery does not try again
    expect(refused.filter((c) => c === 405)).toHaveLength(1);
    expect(texts(405)).toEqual([]);
    expect(await gamification.ledger.balance(user)).toBe(50);
  });

  it('payments made while the notices consumer is down (a crash after the commit) are told in one message when it is back', async () => {
    const user = await welcomed(407);
    await noticesRunning?.close();
    await publish('admin.besitos_granted', { user_id: user, amount: 5, reason: 'mientras tanto', actor: 'tg:1' }, user);
    await publish('admin.besitos_granted', { user_id: user, amount: 7, reason: 'y otra', actor: 'tg:1' }, user);
    expect(await until(async () => (await gamification.ledger.balance(user)) === 62)).toBe(true);
    expect(await until(async () => (await published('gamification.adjustment_applied', user)).length === 2)).toBe(true);
    expect(told(407, 'El equipo te ha dado')).toHaveLength(0);
    const before = api.sentTo(407).length;
    startNotices();
    expect(await until(() => told(407, 'El equipo te ha dado').length === 2)).toBe(true);
    // both were pending when the consumer came back: one message, a line each
    expect(api.sentTo(407)).toHaveLength(before + 1);
    const lines = told(407, 'El equipo te ha dado').join('\n');
    expect(lines).toContain('<b>5 besitos</b>: mientras tanto.');
    expect(lines).toContain('<b>7 besitos</b>: y otra.');
  });

  it("a payment told in an earlier payment's message, or with no notice, costs its delivery no statement", async () => {
    const user = await welcomed(408);
    // a copy of the notices whose statements are counted (by their first word), told payments
    // that are published nowhere else (so only this test's handlers see them)
    const statements: string[] = [];
    const counting = {
      ...db,
      sql: new Proxy(db.sql, {
        apply(target, self, args) {
          statements.push(
            String((args[0] as readonly string[])[0])
              .trim()
              .split(/\s+/)[0] as string,
          );
          return Reflect.apply(target, self, args);
        },
      }),
    } as typeof db;
    const copy = () =>
      createNotices({ db: counting, api: () => bot.api, missionTitle: (id) => id, achievementTitle: (id) => id });
    const mine = copy();
    const quiet = mine.queueing({
      ...bus,
      publish: (async (type: string, payload: unknown) => ({ id: randomUUID(), type, payload })) as never,
    });
    const pay = () =>
      db.transaction(async () => [
        (await quiet.publish('gamification.besitos_awarded', {
          user_id: user,
          amount: 15,
          source: 'decision',
          balance: 65,
        })) as EventEnvelope,
        (await quiet.publish('gamification.besitos_awarded', {
          user_id: user,
          amount: 1,
          source: 'fragment',
          balance: 66,
        })) as EventEnvelope,
      ]);
    const [first, second] = (await pay()) as [EventEnvelope, EventEnvelope];
    const before = api.sentTo(408).length;
    await mine.subscription.handler(first);
    // both in one message: the claim of every pending notice of the user, then their mark
    expect(api.sentTo(408)).toHaveLength(before + 1);
    expect(told(408, 'por tu decisión')).toHaveLength(1);
    expect(told(408, 'por avanzar en la historia')).toHaveLength(1);
    expect(statements).toEqual(['with', 'update']);
    await mine.subscription.handler(second);
    expect(statements).toHaveLength(2); // nothing asked: this process claimed it with the first
    expect(await noticeState(second.id)).toBe('sent');
    // a payment with no notice of its own (an achievement's besitos) asks nothing either
    await mine.subscription.handler({
      id: randomUUID(),
      type: 'gamification.besitos_awarded',
      payload: { user_id: user, amount: 50, source: 'achievement:primera_decision', balance: 116 },
    } as EventEnvelope);
    expect(statements).toHaveLength(2);
    // another process (a fresh copy) asks, finds nothing pending and tells nothing twice
    await copy().subscription.handler(second);
    expect(statements).toEqual(['with', 'update', 'with']);
    expect(api.sentTo(408)).toHaveLength(before + 1);
    // a send that fails puts its notices back and forgets them: the second delivery claims them
    const [third, fourth] = (await pay()) as [EventEnvelope, EventEnvelope];
    flaky.set(408, 1);
    await expect(mine.subscription.handler(third)).rejects.toThrow();
    await mine.subscription.handler(fourth);
    expect(api.sentTo(408)).toHaveLength(before + 2);
    expect(told(408, 'por tu decisión')).toHaveLength(2);
    expect(await noticeState(third.id)).toBe('sent');
  });

  it('a send that fails for a passing reason (500) is retried by the bus and told once', async () => {
    const user = await register(406);
    expect(await until(() => told(406, 'Tu regalo de bienvenida').length === 1)).toBe(true);
    flaky.set(406, 1);
    await publish('admin.besitos_granted', { user_id: user, amount: 1, reason: 'prueba', actor: 'tg:1' }, user);
    expect(await until(() => told(406, 'El equipo te ha dado').length === 1)).toBe(true);
    expect(refused.filter((c) => c === 406)).toHaveLength(1);
    expect(told(406, 'El equipo te ha dado')[0]).toContain('<b>1 besito</b>: prueba.');
    expect(endsWith(406, 'El equipo te ha dado')).toEqual(['Ahora tienes 51 besitos.']);
    const [applied] = await published('gamification.adjustment_applied', user);
    expect(await until(async () => (await noticeState(applied?.id as string)) === 'sent')).toBe(true);
  });
});

describe('screens', () => {
  it('/misiones shows each mission with its progress and period; done ones are marked', async () => {
    const user = await welcomed(410);
    await press(410, gamification.reactButton('m1').callback_data as string);
    const counted = async () =>
      (await db.sql`select 1 from gamification_mission_progress where user_id = ${user} and mission_id = 'reacciona_3'`)
        .length === 1;
    expect(await until(counted)).toBe(true);
    await command(410, '/misiones');
    expect(api.lastText(410)).toBe(
      [
        '<b>Tus misiones</b>',
        '▫️ Reacciona a 3 publicaciones: 1/3 (hoy) · premio: 20 besitos',
        '▫️ Toma 5 decisiones: 0/5 (esta semana) · premio: 50 besitos',
      ].join('\n'),
    );
    for (const post of ['m2', 'm3']) await press(410, gamification.reactButton(post).callback_data as string);
    expect(await until(() => told(410, 'Misión cumplida').length === 1)).toBe(true);
    await command(410, '/misiones');
    expect(api.lastText(410)).toContain('✅ Reacciona a 3 publicaciones (hoy): cumplida');
    expect([...buttons(410).keys()]).toEqual(['🏆 Logros', '💋 Saldo']);
  });

  it('/logros shows the unlocked ones with their date and the locked ones with what they need', async () => {
    const user = await welcomed(411);
    await publish('narrative.decision_made', { user_id: user, reward: 0 }, user);
    for (const post of ['l1', 'l2']) await press(411, gamification.reactButton(post).callback_data as string);
    const reactions = async () =>
      (
        await db.sql<{ count: number }[]>`
          select count from gamification_counters where user_id = ${user} and counter = 'channel.reaction_added'`
      )[0]?.count === 2;
    expect(await until(reactions)).toBe(true);
    expect(await until(() => told(411, 'Logro conseguido').length === 1)).toBe(true);
    await command(411, '/logros');
    const today = new Intl.DateTimeFormat('es', { timeZone: 'Europe/Madrid', day: 'numeric', month: 'long' }).format(
      new Date(),
    );
    expect(api.lastText(411)).toBe(
      [
        '<b>Tus logros</b> (1 de 2)',
        `🏆 Primera decisión · desde el ${today}`,
        '🔒 Fan de la casa: 10 reacciones: 2/10. Reacciona a publicaciones del canal. Premio: 100 besitos.',
      ].join('\n'),
    );
  });

  it('/historial shows the last 10 movements, newest first, with reasons, plurals and local dates', async () => {
    const user = await welcomed(412);
    // the welcome bonus happened at a known instant: 23:30 UTC is 00:30 of the next day in Madrid
    await db.sql`update besitos_transactions set created_at = '2026-01-15T23:30:00Z' where user_id = ${user} and source = 'welcome'`;
    await publish('admin.besitos_granted', { user_id: user, amount: 1, reason: 'bienvenida VIP', actor: 'tg:1' }, user);
    expect(await until(() => told(412, 'El equipo te ha dado').length === 1)).toBe(true);
    await command(412, '/historial');
    expect(api.lastText(412)).toMatch(
      new RegExp(
        [
          '^<b>Tus últimos movimientos</b>',
          '\\d{1,2} \\S+, \\d\\d:\\d\\d · <b>\\+1 besito</b> · ajuste del equipo: bienvenida VIP',
          '16 ene, 00:30 · <b>\\+50 besitos</b> · regalo de bienvenida',
          '',
          'Saldo: <b>51 besitos</b>$',
        ].join('\\n'),
      ),
    );
    // ten more: only the last 10 are shown, newest first
    for (let i = 0; i < 10; i++)
      await publish('admin.besitos_granted', { user_id: user, amount: 2, reason: `ronda ${i}`, actor: 'tg:1' }, user);
    expect(await until(() => told(412, 'El equipo te ha dado').length === 11)).toBe(true);
    await command(412, '/historial');
    let lines = api.lastText(412).split('\n');
    expect(lines).toHaveLength(1 + 10 + 2);
    // (the bus handles a user's grants concurrently: which round is newest is not fixed)
    const rounds = lines
      .slice(1, 11)
      .map((l) => / · <b>\+2 besitos<\/b> · ajuste del equipo: ronda (\d)$/.exec(l)?.[1]);
    expect(rounds.sort()).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    expect(lines.at(-1)).toBe('Saldo: <b>71 besitos</b>');
    // the two before them are a press away; the last page offers no older one
    expect([...buttons(412).keys()]).toEqual(['⏪ Anteriores', '🎁 Regalo diario', '🛍️ Tienda']);
    await press(412, buttons(412).get('⏪ Anteriores') as string);
    expect(api.lastText(412)).toMatch(
      new RegExp(
        [
          '^<b>Movimientos anteriores</b>',
          '\\d{1,2} \\S+, \\d\\d:\\d\\d · <b>\\+1 besito</b> · ajuste del equipo: bienvenida VIP',
          '16 ene, 00:30 · <b>\\+50 besitos</b> · regalo de bienvenida',
          '',
          'Saldo: <b>71 besitos</b>$',
        ].join('\\n'),
      ),
    );
    expect([...buttons(412).keys()]).toEqual(['🎁 Regalo diario', '🛍️ Tienda']);
    // a page past the last (a signed press no button of ours leads to) says so
    await press(412, signer.sign('gam.h', ['5'], { userId: 412 }));
    expect(api.lastText(412)).toBe('No hay movimientos más antiguos.');
    // a purchase is the newest movement
    await command(412, '/tienda');
    await press(412, [...buttons(412)].find(([label]) => label.startsWith('Rosa negra'))?.[1] as string);
    await command(412, '/historial');
    lines = api.lastText(412).split('\n');
    expect(lines[1]).toMatch(/ · <b>-30 besitos<\/b> · compra: Rosa negra$/);
    expect(lines.at(-1)).toBe('Saldo: <b>41 besitos</b>');
  });

  it('a user with no movements is told how to start', async () => {
    const { user } = await users.upsertFromTelegram({ id: 413, first_name: 'U413' });
    ids.set(413, user.id);
    await command(413, '/historial');
    expect(api.lastText(413)).toBe('Aún no tienes movimientos de besitos. Empieza con /regalo.');
  });

  it('at the caps, with the longest texts, /tienda, /misiones and /logros send only messages Telegram accepts', async () => {
    const change = async (
      key: 'gamification.shop' | 'gamification.missions' | 'gamification.achievements',
      value: unknown,
    ) => {
      const draft = await config.createDraft(key, value as never, { actor: 'admin:1', reason: 'tope' });
      await config.publish(draft.id, { actor: 'admin:1', reason: 'tope' });
    };
    const before = {
      shop: config.get('gamification.shop'),
      missions: config.get('gamification.missions'),
      achievements: config.get('gamification.achievements'),
    };
    // every field at its longest, with characters that are escaped (`&`, `<`: more markup, same length)
    const n = (i: number) => String(i).padStart(2, '0');
    const items = Array.from({ length: SHOP_MAX_ITEMS }, (_, i) => ({
      id: `${'x'.repeat(22)}${n(i)}`,
      name: `${n(i)}${'&<é'.repeat(12)}xx`,
      price: BESITOS_MAX,
      description: '<b>&'.repeat(50),
    }));
    const title = (i: number) => `${n(i)}${'&<é'.repeat(26)}`;
    const missions = Array.from({ length: MISSIONS_MAX }, (_, i) => ({
      id: `m${n(i)}`,
      title: title(i),
      kind: 'narrative',
      event: 'channel.reaction_added',
      target: 1_000_000,
      reward: 100_000,
    }));
    const achievements = Array.from({ length: ACHIEVEMENTS_MAX }, (_, i) => ({
      id: `a${n(i)}`,
      title: title(i),
      event: 'channel.reaction_added',
      threshold: 1_000_000,
      reward: 100_000,
    }));
    expect(items[0]?.name).toHaveLength(40);
    expect(title(0)).toHaveLength(80);
    try {
      await change('gamification.shop', items);
      await change('gamification.missions', missions);
      await change('gamification.achievements', achievements);
      expect(await until(() => config.get('gamification.achievements').length === ACHIEVEMENTS_MAX)).toBe(true);
      await welcomed(414);
      /** What a command sent, each message checked as the output guard checks it (before: one message refused). */
      const screen = async (text: string) => {
        const from = api.sentTo(414).length;
        await command(414, text);
        const sent = api.sentTo(414).slice(from);
        for (const call of sent) {
          expect(checkOutgoing('sendMessage', call.payload), text).toEqual([]);
          expect(checkHtml(String(call.payload.text)).length).toBeLessThanOrEqual(TELEGRAM_LIMITS.message_text);
        }
        const keyboards = sent.map(
          (c) =>
            (c.payload.reply_markup as { inline_keyboard?: { text: string; callback_data: string }[][] } | undefined)
              ?.inline_keyboard ?? [],
        );
        return { texts: sent.map((c) => String(c.payload.text)), buttons: keyboards.flat(2) };
      };
      const shop = await screen('/tienda');
      expect(shop.texts).toHaveLength(4);
      expect(shop.texts[0]).toMatch(/^<b>La tienda de Diana<\/b>\nTienes 50 besitos\./);
      // every item once, in order, its buy button in the message that shows it
      expect(shop.buttons.map((b) => b.text)).toEqual(items.map((i) => `${i.name} — 1.000.000 besitos`));
      for (const b of shop.buttons) expect(Buffer.byteLength(b.callback_data)).toBeLessThanOrEqual(64);
      expect(shop.texts.join('\n\n').match(/ — 1\.000\.000 besitos/g)).toHaveLength(SHOP_MAX_ITEMS);
      const list = await screen('/misiones');
      expect(list.texts).toHaveLength(2);
      expect(list.texts[0]?.startsWith('<b>Tus misiones</b>\n')).toBe(true);
      expect(list.texts.join('\n').split('\n')).toHaveLength(1 + MISSIONS_MAX);
      expect(list.buttons.map((b) => b.text)).toEqual(['🏆 Logros', '💋 Saldo']); // under the last message only
      const trophies = await screen('/logros');
      expect(trophies.texts).toHaveLength(2);
      expect(trophies.texts[0]?.startsWith(`<b>Tus logros</b> (0 de ${ACHIEVEMENTS_MAX})\n`)).toBe(true);
      expect(trophies.texts.join('\n').split('\n')).toHaveLength(1 + ACHIEVEMENTS_MAX);
      expect(trophies.buttons.map((b) => b.text)).toEqual(['🎯 Misiones', '💋 Saldo']);
    } finally {
      await change('gamification.shop', before.shop);
      await change('gamification.missions', before.missions);
      await change('gamification.achievements', before.achievements);
      expect(await until(() => config.get('gamification.achievements').length === before.achievements.length)).toBe(
        true,
      );
    }
  });
});

describe('next steps', () => {
  it('/saldo offers the daily gift and the shop; each button opens the same screen as its command', async () => {
    const user = await welcomed(420);
    expect(await until(async () => (await gamification.ledger.balance(user)) === 50)).toBe(true);
    await command(420, '/saldo');
    expect([...buttons(420).keys()]).toEqual(['🎁 Regalo diario', '🛍️ Tienda', '📜 Movimientos']);
    await press(420, buttons(420).get('🎁 Regalo diario') as string);
    expect(api.lastText(420)).toBe(
      'Tu regalo de hoy: <b>10 besitos</b> 🎁\nAhora tienes 60 besitos.\nSigue la historia con /historia.',
    );
    expect(await gamification.ledger.balance(user)).toBe(60);
    // after the gift: the shop and the missions
    expect([...buttons(420).keys()]).toEqual(['🛍️ Ver tienda', '🎯 Misiones']);
    await press(420, buttons(420).get('🛍️ Ver tienda') as string);
    expect(api.lastText(420)).toContain('<b>La tienda de Diana</b>\nTienes 60 besitos.');
    // a second gift the same day: the wait, with the same way on
    await command(420, '/regalo');
    expect(api.lastText(420)).toMatch(/^Ya has recogido tu regalo\. El próximo estará listo en /);
    expect([...buttons(420).keys()]).toEqual(['🛍️ Ver tienda', '🎯 Misiones']);
    // someone else's button is refused (signed for user 420)
    const before = api.sentTo(421).length;
    await press(421, buttons(420).get('🎯 Misiones') as string);
    expect(api.sentTo(421).length).toBe(before);
  });

  it('the shop shows descriptions and marks what is owned; a purchase leads to the backpack and the story', async () => {
    const user = await welcomed(422);
    await publish('admin.besitos_granted', { user_id: user, amount: 200, reason: 'regalo', actor: 'tg:1' }, user);
    expect(await until(() => told(422, 'El equipo te ha dado').length === 1)).toBe(true);
    expect(await gamification.ledger.balance(user)).toBe(250);
    await command(422, '/tienda');
    expect(api.lastText(422)).toBe(
      [
        '<b>La tienda de Diana</b>',
        'Tienes 250 besitos. Toca un artículo para comprarlo.',
        '',
        '<b>Rosa negra</b> — 30 besitos',
        '<i>Una rosa de terciopelo oscuro: Diana sabrá que piensas en ella.</i>',
        '',
        '<b>Llave dorada</b> — 120 besitos',
        '<i>Abre una puerta de la historia que sigue cerrada.</i>',
      ].join('\n'),
    );
    await press(422, [...buttons(422)].find(([l]) => l.startsWith('Llave dorada'))?.[1] as string);
    expect(api.lastAnswer()).toBe('Es tuyo: Llave dorada.');
    expect(api.lastText(422)).toBe(
      '🛍️ Compra hecha: <b>Llave dorada</b>. Te quedan 130 besitos.\nSigue la historia con /historia.',
    );
    expect([...buttons(422).keys()]).toEqual(['🎒 Mochila', '🛍️ Tienda']);
    await press(422, buttons(422).get('🎒 Mochila') as string);
    expect(api.lastText(422)).toBe('<b>Tus objetos</b>\n• Llave dorada');
    await command(422, '/tienda');
    expect(api.lastText(422)).toContain('✓ <b>Llave dorada</b> — en tu mochila\n<i>Abre una puerta');
    expect([...buttons(422).keys()]).toContain('✓ Llave dorada — en tu mochila');
  });

  it('/mochila stays quiet with nothing bought (the clues come first); its button says where the clues are', async () => {
    await welcomed(423);
    const before = api.sentTo(423).length;
    await command(423, '/mochila');
    expect(api.sentTo(423).length).toBe(before);
    await press(423, signer.sign('gam.go', ['mochila'], { userId: 423 }));
    expect(api.lastText(423)).toBe('Aún no tienes objetos de la tienda. Tus pistas de la historia están en /mochila.');
  });
});

describe('summary', () => {
  it('names shop objects for other modules (a lock says «Llave dorada», not llave_dorada)', () => {
    expect(gamification.itemName('llave_dorada')).toBe('Llave dorada');
    expect(gamification.itemName('no_such_item')).toBeUndefined();
  });

  it('returns the balance and the daily-gift streak, running while the next /regalo continues it (last gift under 48 h)', async () => {
    const user = await welcomed(430);
    expect(await until(async () => (await gamification.ledger.balance(user)) === 50)).toBe(true);
    expect(await gamification.summary(user)).toEqual({ balance: 50, streak_days: 0 });
    await command(430, '/regalo');
    expect(await gamification.summary(user)).toEqual({ balance: 60, streak_days: 1 });
    // the last gift `hours` ago: its row, and its ledger entry moved off today's source id (which
    // refuses a second gift on one local day)
    const setLast = async (hours: number, streak: number) => {
      await db.sql`update gamification_daily_gifts set streak = ${streak}, last_claim_at = now() - make_interval(hours => ${hours})
                   where user_id = ${user}`;
      await db.sql`update besitos_transactions set source_event_id = source_event_id || ':' || ${hours}
                   where user_id = ${user} and source = 'daily' and source_event_id not like '%:%:%:%'`;
    };
    // 47 h ago is the day before yesterday by date (whenever it is before 23:00 in Madrid): the
    // profile said no streak while /regalo paid it as day 5
    await setLast(47, 4);
    expect((await gamification.summary(user)).streak_days).toBe(4);
    await command(430, '/regalo');
    expect(api.lastText(430)).toContain('Tu regalo de hoy: <b>18 besitos</b> 🎁 (racha de 5 días)'); // 10 + 4 × 2
    expect(await gamification.summary(user)).toEqual({ balance: 78, streak_days: 5 });
    // 49 h ago: gone for both, the next gift starts again at day 1
    await setLast(49, 4);
    expect((await gamification.summary(user)).streak_days).toBe(0);
    await command(430, '/regalo');
    expect(api.lastText(430)).toContain('Tu regalo de hoy: <b>10 besitos</b> 🎁\n');
    expect(await gamification.summary(user)).toEqual({ balance: 88, streak_days: 1 });
  });

  it('keeps the ledger invariants through all of it', async () => {
    expect(await checkLedgerInvariants(db)).toEqual({ ok: true, problems: [] });
  });
});
