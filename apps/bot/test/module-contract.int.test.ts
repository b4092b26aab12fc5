// The module contract (#20): a fourth module, written only against `DianaModule` and the shared
// `ModuleContext`, goes into the app with one line — its commands answer with the user the app
// resolved, its subscription gets the events it names (the ones nobody publishes are skipped), it
// is started before the app is ready and closed with it; a handler of it still running when the
// app closes finishes on open dependencies (the bus drains before the user state and the config
// manager close). The whole app on real PostgreSQL.
import { loadSettings } from '@diana/config';
import type { DianaModule, EventEnvelope } from '@diana/event-bus';
import type { ModuleContext } from '@diana/security/grammy';
import { createUpdateFactory, startFakeTelegram, useTempDir, useTestDatabase } from '@diana/test-services';
import { isDianaError, SILENT_LOGGER } from '@diana/utils';
import { Composer } from 'grammy';
import type { Update } from 'grammy/types';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../src/app.js';
import { SETTINGS_SCHEMAS } from '../src/config.js';

const testDb = await useTestDatabase('bot-module-contract');
const fake = await startFakeTelegram();
afterAll(() => fake.close());
const settings = loadSettings(
  SETTINGS_SCHEMAS,
  {
    DIANA_DATABASE_URL: testDb.url,
    DIANA_DATABASE_DIRECT_URL: testDb.direct_url,
    DIANA_BOT_TELEGRAM_BOT_TOKEN: '123456:contract-token',
    DIANA_BOT_TELEGRAM_API_ROOT: fake.url,
    DIANA_BOT_DATA_DIR: useTempDir('diana-contract-'),
    DIANA_SECURITY_CALLBACK_SECRET: 'k'.repeat(40),
    DIANA_SECURITY_TOKEN_PEPPER: 'q'.repeat(40),
  },
  { env_file: false },
);

/** A tiny module: `/eco` answers with the caller's role; it counts the users registered. */
function createEchoModule() {
  const registered: string[] = [];
  const lifecycle: string[] = [];
  const composer = new Composer<ModuleContext>();
  composer.command('eco', (ctx) => ctx.reply(`eco: ${ctx.user?.role ?? 'nadie'} (${ctx.user?.telegram_id})`));
  const close = async () => {
    lifecycle.push('closed');
  };
  const module: DianaModule<Composer<ModuleContext>> = {
    name: 'eco',
    composer,
    subscriptions: [
      {
        group: 'eco',
        types: ['user.registered', 'eco.nobody_publishes_this'],
        handler: async (event: EventEnvelope) => {
          registered.push((event.payload as { user_id: string }).user_id);
        },
      },
    ],
    start: async () => {
      lifecycle.push('started');
    },
    close,
    [Symbol.asyncDispose]: close,
  };
  return { module, registered, lifecycle };
}

describe('a fourth module', () => {
  it('is composed with one line: commands, events, start and close', async () => {
    const echo = createEchoModule();
    const app = await createApp(settings, {
      logger: SILENT_LOGGER,
      apiTransformer: (prev, method, payload, signal) => prev(method, payload, signal),
      modules: [echo.module],
    });
    try {
      expect(echo.lifecycle).toEqual(['started']);
      const updates = createUpdateFactory(7_000);
      await app.handleUpdate(updates.message(7_001, '/eco') as Update);
      const replies = fake.calls.filter((c) => c.method === 'sendMessage' && c.payload.chat_id === 7_001);
      expect(replies.map((c) => c.payload.text)).toContain('eco: FREE (7001)');
      // its subscription got the event of the user it has just seen registered
      const deadline = Date.now() + 10_000;
      while (echo.registered.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      const [row] = await app.db.sql<{ id: string }[]>`select id from users where telegram_id = 7001`;
      expect(echo.registered).toEqual([row?.id]);
      // its consumer group is a loop of the app's, seen by /readyz
      expect(app.loops().map((l) => l.loop)).toContain('consumer eco user.registered');
    } finally {
      await app.close({ timeout_ms: 5_000 });
    }
    expect(echo.lifecycle).toEqual(['started', 'closed']);
  });
  it('a handler running when the app closes still updates user state: the bus drains before what handlers use closes', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const seen: string[] = [];
    const outcome: { clues?: readonly string[]; error?: unknown } = {};
    let app: Awaited<ReturnType<typeof createApp>> | undefined;
    const close = async () => {};
    const slow: DianaModule<Composer<ModuleContext>> = {
      name: 'slow',
      composer: new Composer<ModuleContext>(),
      subscriptions: [
        {
          group: 'slow',
          types: ['user.registered'],
          // what the narrative module's handlers do: a user-state write
          handler: async (event: EventEnvelope) => {
            const { user_id } = event.payload as { user_id: string };
            seen.push(user_id);
            await gate;
            try {
              const next = await app?.state.update(user_id, 'narrative', (p) => ({
                ...p,
                clues: [...p.clues, 'late'],
              }));
              outcome.clues = next?.clues;
            } catch (error) {
              outcome.error = error;
              throw error;
            }
          },
        },
      ],
      start: async () => {},
      close,
      [Symbol.asyncDispose]: close,
    };
    app = await createApp(settings, {
      logger: SILENT_LOGGER,
      apiTransformer: (prev, method, payload, signal) => prev(method, payload, signal),
      modules: [slow],
    });
    const { bus, state } = app;
    await app.handleUpdate(createUpdateFactory(8_000).message(8_001, '/start') as Update);
    await vi.waitUntil(() => seen.length === 1, { timeout: 10_000 });
    const user_id = seen[0] as string;

    const closing = app.close({ timeout_ms: 10_000 });
    // whichever closes first: the user state (its reads fail once it is closed; asked first, as
    // both may have closed between two looks) or the bus (it refuses subscriptions from its close
    // on; an unknown type is refused after that check)
    let first: 'bus' | 'user state' | undefined;
    await vi.waitUntil(
      async () => {
        await state.get(user_id, 'narrative').catch((error: unknown) => {
          if (isDianaError(error, 'E_STATE_CLOSED')) first = 'user state';
        });
        if (!first)
          try {
            bus.subscribe('probe', ['probe.unknown'] as never, () => {});
          } catch (error) {
            if (isDianaError(error, 'E_BUS_CLOSED')) first = 'bus';
          }
        return first !== undefined;
      },
      { timeout: 10_000, interval: 5 },
    );
    release();
    await closing;
    expect(first).toBe('bus');
    expect(outcome).toEqual({ clues: ['late'] });
  });
});
