// The error boundary's apology: a failed press is told once, the way Telegram still accepts.
import { createRecordingApi, createUpdateFactory, FAKE_BOT_INFO } from '@diana/test-services';
import { SILENT_LOGGER } from '@diana/utils';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import { describe, expect, it } from 'vitest';
import { createBotMetrics } from '../src/metrics.js';
import { type AppContext, errorBoundary } from '../src/middleware.js';

const SORRY = 'Algo salió mal. Inténtalo de nuevo en un momento.';
const updates = createUpdateFactory(90_000);

function botFailing(answerFirst: boolean) {
  const api = createRecordingApi();
  const bot = new Bot<AppContext>('0:test', { botInfo: FAKE_BOT_INFO });
  bot.api.config.use(api.transformer as never);
  bot.use(errorBoundary(SILENT_LOGGER, createBotMetrics()));
  bot.on('callback_query', async (ctx) => {
    if (answerFirst) await ctx.answerCallbackQuery();
    throw new Error('the database went away');
  });
  return { bot, api };
}

describe('errorBoundary', () => {
  it('a press that failed before it was answered gets the apology as its answer', async () => {
    const { bot, api } = botFailing(false);
    await bot.handleUpdate(updates.press(91, 'x') as Update);
    expect(api.calls.map((c) => [c.method, c.payload.text])).toEqual([['answerCallbackQuery', SORRY]]);
  });

  it('a press the handler answered before failing gets the apology as a message (a second answer is refused)', async () => {
    const { bot, api } = botFailing(true);
    await bot.handleUpdate(updates.press(92, 'x') as Update);
    expect(api.calls.map((c) => [c.method, c.payload.text])).toEqual([
      ['answerCallbackQuery', undefined],
      ['sendMessage', SORRY],
    ]);
  });
});
