// A story's shape and its changes under readers: loops, renamed decisions, media, long locks.
// Through a real grammY bot (handleUpdate) on PostgreSQL + Redis; Telegram is a recording API transformer.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPostgres, createPostgresDocumentStore, createUserRepository, DB_MIGRATIONS, migrate } from '@diana/db';
import { createEventBus, createMemoryTransport, EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { createRedisConnector } from '@diana/redis';
import { checkOutgoing, createCallbackSigner } from '@diana/security';
import { verifyCallbacks } from '@diana/security/grammy';
import {
  createRecordingApi,
  createUpdateFactory,
  FAKE_BOT_INFO,
  useTempDir,
  useTestDatabase,
  useTestRedis,
} from '@diana/test-services';
import { createUserStateManager, USER_STATE_MIGRATIONS } from '@diana/user-state';
import { createRedisStateStore } from '@diana/user-state/adapters/redis';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NARRATIVE_EVENTS } from '../src/events.js';
import { createNarrativeModule, type NarrativeContext, type NarrativeModule } from '../src/module.js';
import { NARRATIVE_SLICES } from '../src/slices.js';

const testDb = await useTestDatabase('narrative_change');
const redis = await useTestRedis('narrative_change');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 5 });
const bus = createEventBus({}, { transport: createMemoryTransport(), events: NARRATIVE_EVENTS, db });
const stateConfig = { key_prefix: redis.prefix };
const state = createUserStateManager(stateConfig, {
  db,
  store: createRedisStateStore(stateConfig, { connector: createRedisConnector({ url: redis.url }) }),
  slices: NARRATIVE_SLICES,
});
const signer = createCallbackSigner({ callback_secret: 'n'.repeat(40) });
const users = createUserRepository(db);
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, USER_STATE_MIGRATIONS]);
});
afterAll(async () => {
  await state.close();
  await bus.close();
  await db.close();
});

const updates = createUpdateFactory();
const ids = new Map<number, string>();
function makeBot(module: NarrativeModule, refuse?: (method: string, payload: Record<string, unknown>) => boolean) {
  const bot = new Bot<NarrativeContext>('0:test', { botInfo: FAKE_BOT_INFO });
  const api = createRecordingApi();
  bot.api.config.use(api.transformer as never);
  // Telegram's answer to a picture it cannot fetch (the call is recorded, then refused)
  if (refuse)
    bot.api.config.use(async (prev, method, payload, signal) => {
      const answer = await prev(method, payload, signal);
      return refuse(method, payload as Record<string, unknown>)
        ? ({
            ok: false,
            error_code: 400,
            description: 'Bad Request: wrong file identifier/HTTP URL specified',
          } as never)
        : answer;
    });
  bot.use(async (ctx, next) => {
    const id = ctx.from?.id ?? 0;
    if (!ids.has(id)) {
      const { user } = await users.upsertFromTelegram({ id, first_name: `U${id}` });
      ids.set(id, user.id);
      ctx.firstContact = true;
    }
    ctx.user = { id: ids.get(id) as string, role: 'FREE', telegram_id: id };
    await next();
  });
  bot.use(verifyCallbacks(signer));
  bot.use(module.composer);
  return {
    sent: api.calls,
    command: (tg: number, text: string) => bot.handleUpdate(updates.message(tg, text) as Update),
    press: (tg: number, data: string) => bot.handleUpdate(updates.press(tg, data) as Update),
    buttons: (chat: number) => api.buttons(chat),
    lastText: (chat: number) => api.lastText(chat),
  };
}
const withStory = async (file: object) => {
  const path = join(useTempDir('narrative-change-'), 'story.json');
  writeFileSync(path, JSON.stringify(file));
  const m = createNarrativeModule(
    { story_file: path },
    { db, bus, state, documents: createPostgresDocumentStore(db), signer },
  );
  await m.start();
  return m;
};
const outbox = (type: string, user: string) =>
  db.sql<{ fragment: string | null }[]>`
    select envelope::jsonb -> 'payload' ->> 'fragment' as fragment
    from event_outbox where type = ${type} and key = ${user} order by id`;
const scene = (key: string, decisions: Array<{ id: string; label: string; next: string }>, extra: object = {}) => ({
  key,
  level: 1,
  narrator: 'lucien',
  kind: 'decision',
  text: `Escena ${key}.`,
  decisions,
  ...extra,
});
const story = (key: string, next: string | undefined, extra: object = {}) => ({
  key,
  level: 1,
  narrator: 'diana',
  kind: 'story',
  text: `Relato ${key}.`,
  ...(next ? { next } : {}),
  ...extra,
});
const levels = [
  { level: 1, title: 'La casa', vip: false },
  { level: 2, title: 'El jardín', vip: false },
];

describe('a story with a loop', () => {
  it('completes each fragment once per reader: ten loops through hub ↔ corridor publish two fragment_completed, one level_completed', async () => {
    const m = await withStory({
      start: 'c_hub',
      levels,
      fragments: [
        scene('c_hub', [
          { id: 'vuelta', label: 'Dar una vuelta', next: 'c_pasillo' },
          { id: 'salir', label: 'Salir', next: 'c_fin' },
        ]),
        // the corridor leads up a level and back: its level_completed is not paid per loop either
        story('c_pasillo', 'c_hub', { level: 2 }),
        story('c_fin', undefined),
      ],
    });
    const bot = makeBot(m);
    await bot.command(501, '/start');
    for (let i = 0; i < 10; i++) {
      await bot.press(501, bot.buttons(501).get('Dar una vuelta') as string);
      await bot.press(501, bot.buttons(501).get('Continuar ➜') as string);
    }
    const user = ids.get(501) as string;
    expect((await state.get(user, 'narrative')).current).toBe('c_hub');
    const completed = await outbox('narrative.fragment_completed', user);
    expect(completed.map((r) => r.fragment)).toEqual(['c_hub', 'c_pasillo']);
    expect(await outbox('narrative.level_completed', user)).toHaveLength(1);
    // decisions still go out per decision (missions count them; their reward is paid once)
    expect(await outbox('narrative.decision_made', user)).toHaveLength(10);
  });
});

describe('an old button the story no longer has', () => {
  it('a renamed decision, or a story fragment turned into a decision one: the reader still on it is shown where they go on', async () => {
    const v1 = await withStory({
      start: 'd_a',
      levels,
      fragments: [
        scene('d_a', [{ id: 'ir', label: 'Ir', next: 'd_b' }]),
        story('d_b', 'd_fin'),
        story('d_fin', undefined),
      ],
    });
    const bot1 = makeBot(v1);
    await bot1.command(503, '/start');
    const oldDecision = bot1.buttons(503).get('Ir') as string;
    await bot1.command(504, '/start');
    await bot1.press(504, bot1.buttons(504).get('Ir') as string);
    const oldContinue = bot1.buttons(504).get('Continuar ➜') as string;
    const v2 = await withStory({
      start: 'd_a',
      levels,
      fragments: [
        scene('d_a', [{ id: 'ir_v2', label: 'Ir ahora', next: 'd_b' }]),
        scene('d_b', [{ id: 'ya', label: 'Ya', next: 'd_fin' }]),
        story('d_fin', undefined),
      ],
    });
    const bot2 = makeBot(v2);
    await bot2.press(503, oldDecision);
    expect(bot2.lastText(503)).toContain('Escena d_a.');
    expect([...bot2.buttons(503).keys()]).toEqual(['Ir ahora']);
    await bot2.press(504, oldContinue);
    expect(bot2.lastText(504)).toContain('Escena d_b.');
    expect([...bot2.buttons(504).keys()]).toEqual(['Ya']);
    // nothing moved: the press changed no progress
    expect((await state.get(ids.get(503) as string, 'narrative')).current).toBe('d_a');
    expect((await state.get(ids.get(504) as string, 'narrative')).current).toBe('d_b');
    const answers = bot2.sent.filter((c) => c.method === 'answerCallbackQuery').map((c) => c.payload.text);
    expect(answers).toEqual(['Ese momento ya pasó.', 'Ese momento ya pasó.']);
  });
});

describe('a fragment with media', () => {
  it('is sent as a photo with its URL, then the text with its buttons; both pass the output checks', async () => {
    const url = 'https://example.com/diana.jpg';
    const m = await withStory({
      start: 'm_a',
      levels,
      fragments: [story('m_a', 'm_b', { media: url }), story('m_b', undefined)],
    });
    const bot = makeBot(m);
    await bot.command(507, '/start');
    const sends = bot.sent.filter((c) => c.method.startsWith('send'));
    expect(sends.map((c) => c.method)).toEqual(['sendPhoto', 'sendMessage']);
    expect(sends[0]?.payload).toMatchObject({ chat_id: 507, photo: url });
    expect(bot.lastText(507)).toContain('Relato m_a.');
    expect([...bot.buttons(507).keys()]).toEqual(['Continuar ➜']);
    for (const c of sends) expect(checkOutgoing(c.method, c.payload as never)).toEqual([]);
    // a fragment without media sends its text alone
    await bot.press(507, bot.buttons(507).get('Continuar ➜') as string);
    expect(bot.sent.filter((c) => c.method.startsWith('send')).map((c) => c.method)).toEqual([
      'sendPhoto',
      'sendMessage',
      'sendMessage',
    ]);
  });

  it('refused by Telegram (a URL it cannot fetch), leaves the text and buttons sent and the story going on', async () => {
    const url = 'https://example.com/missing.jpg';
    const m = await withStory({
      start: 'm_c',
      levels,
      fragments: [story('m_c', 'm_d', { media: url }), story('m_d', undefined)],
    });
    const bot = makeBot(m, (method) => method === 'sendPhoto');
    // before: the 400 ended the update; the reader got no text and no button, every time
    await bot.command(508, '/start');
    const sends = bot.sent.filter((c) => c.method.startsWith('send'));
    expect(sends.map((c) => c.method)).toEqual(['sendPhoto', 'sendMessage']);
    expect(bot.lastText(508)).toContain('Relato m_c.');
    await bot.press(508, bot.buttons(508).get('Continuar ➜') as string);
    expect(bot.lastText(508)).toContain('Relato m_d.');
  });
});
