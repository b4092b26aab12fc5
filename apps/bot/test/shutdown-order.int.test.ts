// The app's close order for event handlers: a handler still running when the app closes finishes
// on open dependencies. The bus's consumers drain before the modules, the config manager, the
// user state and the rate limiter close (those were closed first, so a narrative handler caught
// by a deploy failed with E_STATE_CLOSED, was retried and dead-lettered). The whole app on real
// PostgreSQL; the handler is held on a gate until the close has begun.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSettings } from '@diana/config';
import type { DianaModule, EventEnvelope } from '@diana/event-bus';
import type { ModuleContext } from '@diana/security/grammy';
import { createUpdateFactory, startFakeTelegram, useTestDatabase } from '@diana/test-services';
import { isDianaError, SILENT_LOGGER } from '@diana/utils';
import { Composer } from 'grammy';
import type { Update } from 'grammy/types';
import { afterAll, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { SETTINGS_SCHEMAS } from '../src/config.js';

const testDb = await useTestDatabase('bot-shutdown-order');
const fake = await startFakeTelegram();
afterAll(() => fake.close());
const settings = loadSettings(
  SETTINGS_SCHEMAS,
  {
    DIANA_DATABASE_URL: testDb.url,
    DIANA_DATABASE_DIRECT_URL: testDb.direct_url,
    DIANA_BOT_TELEGRAM_BOT_TOKEN: '123456:shutdown-token',
    DIANA_BOT_TELEGRAM_API_ROOT: fake.url,
    DIANA_BOT_DATA_DIR: mkdtempSync(join(tmpdir(), 'diana-shutdown-')),
    DIANA_SECURITY_CALLBACK_SECRET: 'k'.repeat(40),
    DIANA_SECURITY_TOKEN_PEPPER: 'q'.repeat(40),
  },
  { env_file: false },
);

/** Polls `done` every 10 ms until it is true; fails after `ms`. */
async function until(done: () => boolean | Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await done())) {
    if (Date.now() > deadline) throw new Error(`not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

it('a handler running when the app closes still updates user state: the bus drains before what handlers use closes', async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  const seen: string[] = [];
  const outcome: { clues?: readonly string[]; error?: unknown } = {};
  let app: Awaited<ReturnType<typeof createApp>> | undefined;
  const close = async () => {};
  const module: DianaModule<Composer<ModuleContext>> = {
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
            const next = await app?.state.update(user_id, 'narrative', (p) => ({ ...p, clues: [...p.clues, 'late'] }));
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
    modules: [module],
  });
  const { bus, state } = app;
  await app.handleUpdate(createUpdateFactory(8_000).message(8_001, '/start') as Update);
  await until(() => seen.length === 1);
  const user_id = seen[0] as string;

  const closing = app.close({ timeout_ms: 10_000 });
  // whichever closes first: the bus (it refuses subscriptions from its close on; an unknown type
  // is refused after that check) or the user state (its reads fail once it is closed)
  let first: 'bus' | 'user state' | undefined;
  await until(async () => {
    try {
      bus.subscribe('probe', ['probe.unknown'] as never, () => {});
    } catch (error) {
      if (isDianaError(error, 'E_BUS_CLOSED')) first = 'bus';
    }
    if (!first)
      await state.get(user_id, 'narrative').catch((error: unknown) => {
        if (isDianaError(error, 'E_STATE_CLOSED')) first = 'user state';
      });
    return first !== undefined;
  });
  release();
  await closing;
  expect(first).toBe('bus');
  expect(outcome).toEqual({ clues: ['late'] });
});
