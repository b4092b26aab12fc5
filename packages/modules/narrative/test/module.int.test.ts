// The module through a real grammY bot (handleUpdate) on PostgreSQL + Redis; Telegram is a
// recording API transformer.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import {
  createPostgres,
  createPostgresDocumentStore,
  createUserRepository,
  DB_MIGRATIONS,
  type DocumentStore,
  migrate,
  type UserRole,
} from '@diana/db';
import { createEventBus, createMemoryTransport, EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { createRedisConnector } from '@diana/redis';
import { checkHtml, createCallbackSigner } from '@diana/security';
import { verifyCallbacks } from '@diana/security/grammy';
import {
  createBarrier,
  createRecordingApi,
  createUpdateFactory,
  FAKE_BOT_INFO,
  useTempDir,
  useTestDatabase,
  useTestRedis,
} from '@diana/test-services';
import { createUserStateManager, USER_STATE_MIGRATIONS } from '@diana/user-state';
import { createRedisStateStore } from '@diana/user-state/adapters/redis';
import { isDianaError } from '@diana/utils';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { NARRATIVE_EVENTS } from '../src/events.js';
import {
  createNarrativeModule,
  DEFAULT_STORY_FILE,
  type NarrativeContext,
  type NarrativeModule,
} from '../src/module.js';
import { NARRATIVE_SLICES } from '../src/slices.js';
import { loadStory } from '../src/story.js';

const testDb = await useTestDatabase('narrative');
const redis = await useTestRedis('narrative');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 10 });
const bus = createEventBus({}, { transport: createMemoryTransport(), events: NARRATIVE_EVENTS, db });
const stateConfig = { key_prefix: redis.prefix };
const state = createUserStateManager(stateConfig, {
  db,
  store: createRedisStateStore(stateConfig, { connector: createRedisConnector({ url: redis.url }) }),
  slices: NARRATIVE_SLICES,
});
const signer = createCallbackSigner({ callback_secret: 'n'.repeat(40) });
/** The app's command buttons, as the app builds them (the signed `cmd` action). */
const commandButton = (text: string, command: string, telegramId: number | undefined) => ({
  text,
  callback_data: signer.sign('cmd', [command], { userId: telegramId }),
});
const narrative = createNarrativeModule(
  { vip_offer_url: 'https://t.me/diana_bot?start=vip' },
  { db, bus, state, documents: createPostgresDocumentStore(db), signer, commandButton },
);
const users = createUserRepository(db);
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, USER_STATE_MIGRATIONS]);
  await narrative.start();
});
afterAll(async () => {
  await state.close();
  await bus.close();
  await db.close();
});

const updates = createUpdateFactory();
/**
 * A bot with the module behind the app's callback check; users are (telegram id → role): the
 * role their `users` row starts with, and the one `ctx.user` keeps saying (like the app's
 * cached row, which may be older than a change of `users.role`).
 */
function makeBot(roles: Record<number, string>, module: NarrativeModule = narrative) {
  const bot = new Bot<NarrativeContext>('0:test', { botInfo: FAKE_BOT_INFO });
  const api = createRecordingApi();
  bot.api.config.use(api.transformer as never);
  const ids = new Map<number, string>();
  bot.use(async (ctx, next) => {
    const id = ctx.from?.id ?? 0;
    if (!ids.has(id)) {
      const { user } = await users.upsertFromTelegram({ id, first_name: `U${id}` });
      ids.set(id, (await users.setRole(user.id, (roles[id] ?? 'FREE') as UserRole)).id);
      ctx.firstContact = true; // as the app says on the update that created the row
    }
    ctx.user = { id: ids.get(id) as string, role: roles[id] ?? 'FREE', telegram_id: id };
    await next();
  });
  bot.use(verifyCallbacks(signer));
  bot.use(module.composer);
  return {
    sent: api.calls,
    userId: (telegramId: number) => ids.get(telegramId) as string,
    command: (telegramId: number, text: string) => bot.handleUpdate(updates.message(telegramId, text) as Update),
    press: (telegramId: number, data: string) => bot.handleUpdate(updates.press(telegramId, data) as Update),
    buttons: (chat: number) => api.buttons(chat),
    lastText: (chat: number) => api.lastText(chat),
  };
}
const outboxCount = async (type: string, user: string) => {
  const [row] = await db.sql<
    { n: number }[]
  >`select count(*)::int as n from event_outbox where type = ${type} and envelope like ${`%${user}%`}`;
  return row?.n ?? 0;
};
const pressUntil = async (bot: ReturnType<typeof makeBot>, tg: number, labels: string[]) => {
  for (const label of labels) {
    const data = bot.buttons(tg).get(label);
    expect(data, `button '${label}' in: ${[...bot.buttons(tg).keys()].join(', ')}`).toBeDefined();
    await bot.press(tg, data as string);
  }
};

/** From the Diván (l4_divan) to the last fragment of level 6, the diary's way. */
const TO_THE_END = [
  'Contarle un secreto',
  'Continuar ➜',
  'Subir en silencio',
  '«Léeme.»',
  'Continuar ➜',
  'Abrir la puerta',
];

/** The buttons from /start to the third level's corridor (l3_pasillo). */
const TO_PASILLO = [
  'Entrar con educación',
  'Dejarla donde está',
  'Continuar ➜',
  '«A ti.»',
  'Continuar ➜',
  'Preguntar a Lucien',
  'Continuar ➜',
];

describe('the narrative module', () => {
  it('refuses to serve before start() with E_NARRATIVE_NOT_STARTED', () => {
    const unstarted = createNarrativeModule({}, { db, bus, state, documents: createPostgresDocumentStore(db), signer });
    let caught: unknown;
    try {
      unstarted.story();
    } catch (error) {
      caught = error;
    }
    expect(isDianaError(caught, 'E_NARRATIVE_NOT_STARTED')).toBe(true);
  });

  it("/start shows Lucien's first fragment with decision buttons; a press advances and is recorded with its events", async () => {
    const bot = makeBot({});
    await bot.command(101, '/start');
    expect(bot.lastText(101)).toContain('Te damos la bienvenida a la casa de Diana.');
    expect(bot.lastText(101)).toContain('<b>Lucien</b>');
    expect([...bot.buttons(101).keys()]).toEqual(['Entrar con educación', 'Mirar por la ventana primero']);
    const user = bot.userId(101);
    expect(await outboxCount('narrative.fragment_started', user)).toBe(1);
    await bot.press(101, bot.buttons(101).get('Mirar por la ventana primero') as string);
    expect(bot.lastText(101)).toContain('La curiosidad es una virtud');
    const progress = await state.get(user, 'narrative');
    expect(progress).toMatchObject({
      current: 'l1_ventana',
      completed: ['l1_puerta'],
      decisions: { l1_puerta: 'curiosear' },
      flags: ['curioso'],
      variables: { curiosidad: 1 },
    });
    expect(await state.get(user, 'diana')).toEqual({ interest: 20, trust: 5, vulnerability: 0 });
    expect(await outboxCount('narrative.decision_made', user)).toBe(1);
    // /start again resumes
    await bot.command(101, '/start');
    expect(bot.lastText(101)).toContain('Seguimos donde lo dejaste');
    expect(bot.lastText(101)).toContain('La curiosidad es una virtud'); // the fragment it is on
  });

  it('/start of a reader already in the story shows where they are without a transaction', async () => {
    const bot = makeBot({});
    const transactions = vi.spyOn(db, 'transaction');
    const reads = vi.spyOn(state, 'get');
    try {
      await bot.command(130, '/start');
      // beginning the story is a transaction (the progress and its event together); on the
      // user's first update nothing is read before it
      expect(transactions).toHaveBeenCalledTimes(1);
      expect(reads).not.toHaveBeenCalled();
      expect(bot.lastText(130)).toContain('Te damos la bienvenida');
      expect(await outboxCount('narrative.fragment_started', bot.userId(130))).toBe(1);
      transactions.mockClear();
      await bot.command(130, '/start');
      await bot.command(130, '/historia');
      expect(transactions).not.toHaveBeenCalled();
      expect(reads).toHaveBeenCalledTimes(2);
      expect(bot.lastText(130)).toContain('Seguimos donde lo dejaste');
      expect(bot.lastText(130)).toContain('<b>Lucien</b>');
      expect(await outboxCount('narrative.fragment_started', bot.userId(130))).toBe(1);
    } finally {
      transactions.mockRestore();
      reads.mockRestore();
    }
  });

  it('a double tap on a decision applies it once', async () => {
    const bot = makeBot({});
    await bot.command(102, '/start');
    const data = bot.buttons(102).get('Entrar con educación') as string;
    await Promise.all([bot.press(102, data), bot.press(102, data), bot.press(102, data)]);
    const user = bot.userId(102);
    expect(await outboxCount('narrative.decision_made', user)).toBe(1);
    expect((await state.get(user, 'narrative')).current).toBe('l1_vestibulo');
    expect((await state.get(user, 'diana')).interest).toBe(15); // mood changed once
    const answers = bot.sent.filter((s) => s.method === 'answerCallbackQuery').map((s) => s.payload.text);
    expect(answers.filter((t) => t === 'Ese momento ya pasó.')).toHaveLength(2);
  });

  it("a forged button, or another user's, never reaches the handler", async () => {
    const bot = makeBot({});
    await bot.command(103, '/start');
    const genuine = bot.buttons(103).get('Entrar con educación') as string;
    const forged = genuine.replace('|entrar~', '|curiosear~');
    await bot.press(103, forged);
    await bot.press(104, genuine); // user 104 presses 103's button
    expect((await state.get(bot.userId(103), 'narrative')).current).toBe('l1_puerta');
    expect(bot.sent.filter((s) => s.payload.text === 'Este botón ya no es válido.')).toHaveLength(2);
  });

  it('a locked fragment explains what is missing: the clue for the secret room, VIP for the Diván', async () => {
    const bot = makeBot({ 105: 'FREE', 106: 'VIP' });
    for (const tg of [105, 106]) {
      await bot.command(tg, '/start');
      await pressUntil(bot, tg, TO_PASILLO);
    }
    // no golden key: the secret room stays closed
    await bot.press(105, bot.buttons(105).get('Abrir la puerta cerrada') as string);
    // the clue by its title, with where to find it, and a way back: no internal names, no dead end
    expect(bot.lastText(105)).toContain(
      'la pista «La llave dorada»: búscala en la historia, o mira si está en la /tienda',
    );
    expect(bot.lastText(105)).toContain('vuelve con /historia');
    expect(bot.lastText(105)).not.toContain('llave_dorada');
    expect(bot.sent.filter((c) => c.method === 'answerCallbackQuery').at(-1)?.payload.text).toBe(
      'Esta puerta sigue cerrada.',
    );
    expect((await state.get(bot.userId(105), 'narrative')).current).toBe('l3_pasillo');
    // and a button for each way on: the shop (the app's command button), back to the story
    expect([...bot.buttons(105).keys()]).toEqual(['🛍 Ver la tienda', '📖 Seguir la historia']);
    expect(signer.verify(bot.buttons(105).get('🛍 Ver la tienda') as string, { userId: 105 })).toMatchObject({
      action: 'cmd',
      args: ['tienda'],
    });
    // "Seguir la historia" shows the corridor again, with its two doors
    await pressUntil(bot, 105, ['📖 Seguir la historia']);
    expect(bot.lastText(105)).toContain('dos puertas');
    expect([...bot.buttons(105).keys()]).toEqual(['Abrir la puerta cerrada', 'Salir al jardín']);
    await pressUntil(bot, 105, ['Salir al jardín', '«Quiero ver el Diván.»']);
    // the end of the free story: what VIP opens and how to get it, not a bare wall
    expect(bot.lastText(105)).toContain('Aquí termina la parte gratuita de la historia.');
    expect(bot.lastText(105)).toContain(
      'Lo que sigue —El Diván, Los aposentos y El corazón de la casa— es solo para VIP',
    );
    expect(bot.lastText(105)).toContain('Pulsa «Hazme VIP» y pide tu invitación VIP');
    expect(bot.lastText(105)).toContain('/historia te trae justo aquí');
    const offer = bot.sent.filter((c) => c.method === 'sendMessage').at(-1);
    expect(JSON.stringify(offer?.payload.reply_markup)).toContain('https://t.me/diana_bot?start=vip');
    // no way back into the story from here: its own fragment leads to this door again
    expect([...bot.buttons(105).keys()]).toEqual(['Hazme VIP', '☰ Menú']);
    expect((await state.get(bot.userId(105), 'narrative')).current).toBe('l3_jardin');
    // a VIP passes the same gate
    await pressUntil(bot, 106, ['Salir al jardín', '«Quiero ver el Diván.»']);
    expect(bot.lastText(106)).toContain('El Diván es rojo');
    expect(await outboxCount('narrative.level_completed', bot.userId(106))).toBe(3);
  });

  it('a VIP level needs VIP status at the moment: after expiry or revocation the VIP ending closes, nothing advances', async () => {
    const bot = makeBot({ 109: 'VIP', 110: 'VIP' });
    const toDivan = [...TO_PASILLO, 'Salir al jardín', '«Quiero ver el Diván.»'];
    for (const tg of [109, 110]) {
      await bot.command(tg, '/start');
      await pressUntil(bot, tg, toDivan);
      expect(bot.lastText(tg)).toContain('El Diván es rojo'); // a VIP reads the VIP level
    }
    // 109 reads on to the VIP ending (level 6's last fragment, with no unlock condition of its own)
    await pressUntil(bot, 109, TO_THE_END);
    expect(bot.lastText(109)).toContain('Ya conoces la casa entera');
    // the real end of the story for a VIP: no offer, a way back to the menu
    expect(bot.lastText(109)).toContain('Por ahora, la historia termina aquí');
    expect(bot.lastText(109)).not.toContain('parte gratuita');
    expect([...bot.buttons(109).keys()]).toEqual(['☰ Menú']);
    await bot.command(109, '/historia');
    expect(bot.lastText(109)).toContain('Ya conoces la casa entera');

    // the subscription expires (the admin job sets the role back to FREE) / is revoked (/rol FREE);
    // ctx.user still says VIP, as the app's cached row would for a few seconds
    const vip109 = bot.userId(109);
    const vip110 = bot.userId(110);
    await users.setRole(vip109, 'FREE');
    await users.setRole(vip110, 'FREE');
    const snapshot = async (user: string) => ({
      progress: await state.get(user, 'narrative'),
      events: await db.sql<{ n: number }[]>`
        select count(*)::int as n from event_outbox where envelope like ${`%${user}%`}`,
    });
    const before109 = await snapshot(vip109);
    const before110 = await snapshot(vip110);

    // /historia on the VIP ending: refused politely, with the way to become VIP
    const sentBefore = bot.sent.length;
    await bot.command(109, '/historia');
    expect(bot.lastText(109)).toContain('ser VIP');
    expect(bot.lastText(109)).toContain('pide tu invitación VIP');
    expect(bot.lastText(109)).not.toContain('Ya conoces la casa entera');
    const refusal = bot.sent.slice(sentBefore).find((c) => c.method === 'sendMessage');
    expect(JSON.stringify(refusal?.payload.reply_markup)).toContain('https://t.me/diana_bot?start=vip');

    // 110 presses a button of the VIP fragment shown while still VIP: refused, nothing advances
    await pressUntil(bot, 110, ['Contarle un secreto']);
    expect(bot.lastText(110)).toContain('ser VIP');
    expect(bot.lastText(110)).not.toContain('Diana apoya la cabeza');
    await bot.command(110, '/historia');
    expect(bot.lastText(110)).toContain('ser VIP');
    expect(bot.lastText(110)).not.toContain('El Diván es rojo');

    expect(await snapshot(vip109)).toEqual(before109);
    expect(await snapshot(vip110)).toEqual(before110);
    expect(before110.progress.current).toBe('l4_divan');

    // VIP again (a new token redeemed): the level opens again
    await users.setRole(vip110, 'VIP');
    await bot.command(110, '/historia');
    expect(bot.lastText(110)).toContain('El Diván es rojo');
  });

  it('levels 5 and 6: a VIP reads on from the Diván; the last door takes the diary or 150 besitos, and says so', async () => {
    const bot = makeBot({ 111: 'VIP', 112: 'VIP' });
    for (const tg of [111, 112]) {
      await bot.command(tg, '/start');
      await pressUntil(bot, tg, [...TO_PASILLO, 'Salir al jardín', '«Quiero ver el Diván.»', 'Guardar silencio']);
      expect(bot.lastText(tg)).toContain('Diana apoya la cabeza');
      await pressUntil(bot, tg, ['Continuar ➜']);
      expect(bot.lastText(tg)).toContain('escalera de servicio'); // level 5
      await pressUntil(bot, tg, ['Preguntar por Diana', 'Continuar ➜']);
      expect(bot.lastText(tg)).toContain('Diana escribe en un diario');
    }
    // 111 lets Diana read them: no diary, and no balance known to the module (no getBalance)
    await pressUntil(bot, 111, ['«Déjame leerte.»', 'Continuar ➜']);
    expect(bot.lastText(111)).toContain('Esta puerta sigue cerrada');
    expect(bot.lastText(111)).toContain('la pista «El diario de Diana»');
    expect(bot.lastText(111)).toContain('tener al menos 150 besitos');
    expect((await state.get(bot.userId(111), 'narrative')).current).toBe('l5_espejo');
    // 112 asks to be read to: the diary is theirs, and the door opens
    await pressUntil(bot, 112, ['«Léeme.»']);
    expect((await state.get(bot.userId(112), 'narrative')).clues).toContain('diario_de_diana');
    await pressUntil(bot, 112, ['Continuar ➜', 'Volver otro día', 'Continuar ➜']);
    expect(bot.lastText(112)).toContain('Ya conoces la casa entera');
    expect(bot.lastText(112)).toContain('Por ahora, la historia termina aquí');
    expect(await outboxCount('narrative.level_completed', bot.userId(112))).toBe(5);
  });

  it('/mochila lists the clues found', async () => {
    const bot = makeBot({});
    await bot.command(107, '/mochila');
    expect(bot.lastText(107)).toContain('vacía');
    await bot.command(107, '/start');
    await pressUntil(bot, 107, ['Entrar con educación', 'Leer la carta']);
    await bot.command(107, '/mochila');
    expect(bot.lastText(107)).toContain('Una carta sin firma');
    // the clue found in the story is announced once, so the shop stops selling it
    const found = await db.sql<{ envelope: string }[]>`
      select envelope from event_outbox where type = 'narrative.clue_found'`;
    const mine = found.map((r) => JSON.parse(r.envelope).payload).filter((p) => p.clue === 'carta_sin_firma');
    expect(mine).toHaveLength(1);
  });

  it('a story of its own: a besitos lock offers the daily gift; the last free fragment offers VIP, asked for in words without an offer URL', async () => {
    const dir = useTempDir('narrative-story-');
    const file = join(dir, 'story.json');
    writeFileSync(
      file,
      JSON.stringify({
        start: 'p_inicio',
        levels: [
          { level: 1, title: 'El porche', vip: false },
          { level: 2, title: 'La torre', vip: true },
          { level: 3, title: 'El sótano', vip: true },
        ],
        fragments: [
          {
            key: 'p_inicio',
            level: 1,
            narrator: 'lucien',
            kind: 'decision',
            text: 'Dos caminos.',
            decisions: [
              { id: 'pago', label: 'La puerta de pago', next: 'p_pago' },
              { id: 'fin', label: 'El final', next: 'p_fin' },
            ],
          },
          {
            key: 'p_pago',
            level: 1,
            narrator: 'lucien',
            kind: 'story',
            text: 'Solo con besitos.',
            next: 'p_fin',
            unlock: { besitos_at_least: 1000 },
          },
          { key: 'p_fin', level: 1, narrator: 'diana', kind: 'story', text: 'Hasta aquí.' },
        ],
      }),
    );
    const own = createNarrativeModule(
      { story_file: file },
      { db, bus, state, documents: createPostgresDocumentStore(db), signer, commandButton },
    );
    await own.start();
    const bot = makeBot({}, own);
    await bot.command(120, '/start');
    await pressUntil(bot, 120, ['La puerta de pago']);
    expect(bot.lastText(120)).toContain('tener al menos 1000 besitos');
    expect([...bot.buttons(120).keys()]).toEqual(['🎁 Mi regalo diario', '📖 Seguir la historia']);
    expect(signer.verify(bot.buttons(120).get('🎁 Mi regalo diario') as string, { userId: 120 }).args).toEqual([
      'regalo',
    ]);
    await pressUntil(bot, 120, ['📖 Seguir la historia', 'El final']);
    expect(bot.lastText(120)).toContain('Hasta aquí.');
    expect(bot.lastText(120)).toContain('Lo que sigue —La torre y El sótano— es solo para VIP');
    expect(bot.lastText(120)).toContain('Pide tu invitación VIP a quien lleva el canal');
    expect(bot.lastText(120)).not.toContain('Por ahora, la historia termina aquí');
    const last = bot.sent.filter((c) => c.method === 'sendMessage').at(-1);
    expect(JSON.stringify(last?.payload.reply_markup)).not.toContain('"url"');
  });

  /** A module on a story file of its own (written to a temp dir), started. */
  const withStory = async (story: object, more: { getBalance?: (user_id: string) => Promise<number> } = {}) => {
    const file = join(useTempDir('narrative-story-'), 'story.json');
    writeFileSync(file, JSON.stringify(story));
    const own = createNarrativeModule(
      { story_file: file },
      { db, bus, state, documents: createPostgresDocumentStore(db), signer, commandButton, ...more },
    );
    await own.start();
    return own;
  };
  const scene = (key: string, decisions: Array<{ id: string; label: string; next: string; reward?: number }>) => ({
    key,
    level: 1,
    narrator: 'lucien',
    kind: 'decision',
    text: `Escena ${key}.`,
    decisions: decisions.map(({ reward = 0, ...d }) => ({ ...d, consequences: { reward } })),
  });
  const end = (key: string) => ({ key, level: 1, narrator: 'diana', kind: 'story', text: `Final ${key}.` });

  it('a new story version without the reader’s fragment: they go on from their last scene, its decision pays no second time', async () => {
    const levels = [{ level: 1, title: 'La casa', vip: false }];
    const v1 = await withStory({
      start: 'v_a',
      levels,
      fragments: [
        scene('v_a', [{ id: 'ir', label: 'Ir', next: 'v_b', reward: 5 }]),
        scene('v_b', [{ id: 'seguir', label: 'Seguir', next: 'v_fin', reward: 3 }]),
        end('v_fin'),
      ],
    });
    const before = makeBot({}, v1);
    await before.command(130, '/start');
    await pressUntil(before, 130, ['Ir']);
    const old = before.buttons(130).get('Seguir') as string; // a button of v_b, which v2 removes
    const user = before.userId(130);
    // v2: v_b renamed v_b2
    const v2 = await withStory({
      start: 'v_a',
      levels,
      fragments: [
        scene('v_a', [{ id: 'ir', label: 'Ir', next: 'v_b2', reward: 5 }]),
        scene('v_b2', [{ id: 'seguir', label: 'Seguir', next: 'v_fin', reward: 3 }]),
        end('v_fin'),
      ],
    });
    const after = makeBot({}, v2);
    // before: a TypeError on every /historia and /start ("Algo salió mal"), for good
    await after.command(130, '/historia');
    expect(after.lastText(130)).toContain('La historia ha cambiado desde tu última visita');
    expect(after.lastText(130)).toContain('Escena v_a.');
    expect((await state.get(user, 'narrative')).current).toBe('v_a');
    // the old button of the removed scene: told it passed, and shown where they go on
    await after.press(130, old);
    expect(after.sent.filter((c) => c.method === 'answerCallbackQuery').at(-1)?.payload.text).toBe(
      'Ese momento ya pasó.',
    );
    expect(after.lastText(130)).toContain('Escena v_a.');
    await pressUntil(after, 130, ['Ir', 'Seguir']);
    expect(after.lastText(130)).toContain('Final v_fin.');
    const rewards = await db.sql<{ fragment: string; reward: number }[]>`
      select envelope::jsonb -> 'payload' ->> 'fragment' as fragment, (envelope::jsonb -> 'payload' ->> 'reward')::int as reward
      from event_outbox where type = 'narrative.decision_made' and key = ${user} order by id`;
    // v_a paid once (5, then 0 on the way back), v_b2 once (3)
    expect(rewards.map((r) => [r.fragment, r.reward])).toEqual([
      ['v_a', 5],
      ['v_a', 0],
      ['v_b2', 3],
    ]);
  });

  it('two processes starting at once with different story files each serve their own (6 rounds)', async () => {
    // v2 of the shipped story: a fragment renamed (and the link to it), a decision's reward changed
    const v1 = JSON.parse(readFileSync(DEFAULT_STORY_FILE, 'utf8'));
    const v2 = structuredClone(v1);
    const fragment = (file: typeof v1, key: string) => file.fragments.find((f: { key: string }) => f.key === key);
    fragment(v2, 'l1_ventana').key = 'l1_ventana_v2';
    fragment(v2, 'l1_puerta').decisions[1].next = 'l1_ventana_v2';
    fragment(v2, 'l1_puerta').decisions[0].consequences.reward = 7;
    const dir = useTempDir('narrative-versions-');
    const files = [v1, v2].map((story, i) => {
      const file = join(dir, `v${i + 1}.json`);
      writeFileSync(file, JSON.stringify(story));
      return file;
    });
    // the second process: its own pool; both count their store calls in flight (overlap)
    const db2 = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 10 });
    let inFlight = 0;
    let peak = 0;
    const tracked = async <T>(call: () => Promise<T>): Promise<T> => {
      peak = Math.max(peak, ++inFlight);
      try {
        return await call();
      } finally {
        inFlight--;
      }
    };
    const counted = (store: DocumentStore): DocumentStore => ({
      ...store,
      find: (...args) => tracked(() => store.find(...args)),
      put: (...args) => tracked(() => store.put(...args)),
    });
    try {
      for (let round = 0; round < 6; round++) {
        // which process gets which version alternates: each of them goes first at times
        const order = round % 2 ? [files[1], files[0]] : [files[0], files[1]];
        const processes = order.map((file, i) => ({
          file: file as string,
          module: createNarrativeModule(
            { story_file: file },
            { db: i ? db2 : db, bus, state, documents: counted(createPostgresDocumentStore(i ? db2 : db)), signer },
          ),
        }));
        const barrier = createBarrier(processes.length);
        const started = await Promise.allSettled(
          processes.map(async ({ module }) => {
            await barrier.wait();
            await module.start();
          }),
        );
        // before: a start() threw E_NARRATIVE_STORY_INVALID (the other's renamed fragment read
        // back), or served the other version's reward
        expect(started.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
        for (const { file, module } of processes)
          expect(module.story(), `round ${round}: ${file}`).toEqual(loadStory(JSON.parse(readFileSync(file, 'utf8'))));
      }
      expect(peak).toBeGreaterThanOrEqual(2);
      // the stored copy (a publication the module does not read): each of their fragments as one
      // of the two versions has it (other tests' stories share the collection)
      const versions = [v1, v2].map((file) => loadStory(file));
      const stored = (await createPostgresDocumentStore(db).find('narrative_fragments', { limit: 10_000 })).filter(
        (d) => versions.some((version) => version.fragments.has(d.id)),
      );
      expect(stored.length).toBe(new Set(versions.flatMap((version) => [...version.fragments.keys()])).size);
      const asStored = (f: unknown) => JSON.parse(JSON.stringify(f ?? null));
      for (const { id, data } of stored)
        expect(
          versions.some((version) => isDeepStrictEqual(asStored(version.fragments.get(id)), data)),
          id,
        ).toBe(true);
    } finally {
      await db2.close();
    }
  });

  it('a start publishes only the fragments that changed: a second start of the same story writes none', async () => {
    let puts = 0;
    const documents = createPostgresDocumentStore(db);
    const counting: DocumentStore = {
      ...documents,
      put: (...args) => {
        puts++;
        return documents.put(...args);
      },
    };
    const story = JSON.parse(readFileSync(DEFAULT_STORY_FILE, 'utf8'));
    story.fragments[0].text = `${story.fragments[0].text} (edición ${Date.now()})`;
    const file = join(useTempDir('narrative-publish-'), 'story.json');
    writeFileSync(file, JSON.stringify(story));
    const start = () =>
      createNarrativeModule({ story_file: file }, { db, bus, state, documents: counting, signer }).start();
    await start();
    expect(puts).toBeGreaterThanOrEqual(1); // at least the edited fragment
    puts = 0;
    await start();
    // before: every fragment rewritten at each start (jsonb's key order never matched the file's text)
    expect(puts).toBe(0);
  });

  it('/mochila with more clues than one message holds sends several, each within the limit', async () => {
    const clues = Array.from({ length: 10 }, (_, i) => ({
      key: `pista_${i}`,
      title: `Pista ${i}`,
      text: 'x'.repeat(1_000),
    }));
    const own = await withStory({
      start: 'm_a',
      levels: [{ level: 1, title: 'La casa', vip: false }],
      clues,
      fragments: [end('m_a')],
    });
    const bot = makeBot({}, own);
    await bot.command(140, '/start');
    await state.update(bot.userId(140), 'narrative', (s) => ({ ...s, clues: clues.map((c) => c.key) }));
    const before = bot.sent.length;
    await bot.command(140, '/mochila');
    const sent = bot.sent.slice(before).filter((c) => c.method === 'sendMessage');
    expect(sent.length).toBeGreaterThanOrEqual(3);
    for (const call of sent) expect(checkHtml(String(call.payload.text)).length).toBeLessThanOrEqual(4_096);
    const all = sent.map((call) => String(call.payload.text)).join('\n');
    for (const clue of clues) expect(all).toContain(clue.title);
  });

  it('a door the reader came through is not asked again on their way on: 150 besitos at the door, 50 later', async () => {
    let balance = 150;
    const own = await withStory(
      {
        start: 'd_hall',
        levels: [{ level: 1, title: 'La casa', vip: false }],
        fragments: [
          scene('d_hall', [{ id: 'entrar', label: 'Entrar', next: 'd_sala' }]),
          {
            ...scene('d_sala', [{ id: 'salir', label: 'Salir', next: 'd_fin' }]),
            unlock: { besitos_at_least: 100 },
          },
          end('d_fin'),
        ],
      },
      { getBalance: async () => balance },
    );
    const bot = makeBot({}, own);
    await bot.command(131, '/start');
    await pressUntil(bot, 131, ['Entrar']);
    expect(bot.lastText(131)).toContain('Escena d_sala.');
    balance = 50; // spent in the shop
    // before: "Esta puerta sigue cerrada" on /historia and on every button of the room they are in
    await bot.command(131, '/historia');
    expect(bot.lastText(131)).toContain('Escena d_sala.');
    await pressUntil(bot, 131, ['Salir']);
    expect(bot.lastText(131)).toContain('Final d_fin.');
    // the door itself is still a door: from the hall, 50 besitos do not open it
    const other = makeBot({}, own);
    await other.command(132, '/start');
    await pressUntil(other, 132, ['Entrar']);
    expect(other.lastText(132)).toContain('tener al menos 100 besitos');
  });

  it('/start with a payload it does not own passes it on', async () => {
    const bot = makeBot({});
    await bot.command(108, '/start vip_abc');
    expect(bot.sent).toEqual([]);
  });
});
