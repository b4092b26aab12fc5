import { captureLogLines, createUpdateFactory, FAKE_BOT_INFO } from '@diana/test-services';
import { createLogger, createManualClock, isDianaError } from '@diana/utils';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import { describe, expect, it } from 'vitest';
import { createMemoryDedupe, createResilientDedupe } from '../src/dedupe.js';
import { createBotMetrics } from '../src/metrics.js';
import { type AppContext, dedupeUpdates } from '../src/middleware.js';

describe('update dedupe', () => {
  it('claims once; a redelivery while in progress is refused (Telegram retries), after done it is skipped', async () => {
    const dedupe = createMemoryDedupe();
    expect(await dedupe.claim(1)).toBe('claimed');
    const error = await dedupe.claim(1).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_BOT_UPDATE_IN_PROGRESS')).toBe(true);
    await dedupe.done(1);
    expect(await dedupe.claim(1)).toBe('done');
    expect(await dedupe.claim(2)).toBe('claimed');
    await dedupe.release(2); // the handler failed before answering
    expect(await dedupe.claim(2)).toBe('claimed');
  });

  it('an update handled already is dropped with a debug line naming it (a stranger saw nothing at all)', async () => {
    const { destination, lines } = captureLogLines();
    const bot = new Bot<AppContext>('0:test', { botInfo: FAKE_BOT_INFO });
    bot.use(dedupeUpdates(createMemoryDedupe(), createBotMetrics(), createLogger({ level: 'debug', destination })));
    let handled = 0;
    bot.on('message', () => {
      handled++;
    });
    const update = createUpdateFactory(7_000).message(71, '/start') as Update;
    await bot.handleUpdate(update);
    await bot.handleUpdate(update);
    expect(handled).toBe(1);
    expect(lines.filter((l) => l.msg === 'update already handled; dropped')).toMatchObject([
      { level: 'debug', update_id: update.update_id },
    ]);
  });

  it('falls back to memory when Redis does not answer, and says so once per outage', async () => {
    const { destination, lines } = captureLogLines();
    const logger = createLogger({ level: 'debug', destination });
    let up = false;
    const refused = () => Promise.reject(new Error('connect ECONNREFUSED'));
    const redis = {
      set: (..._args: unknown[]) => (up ? Promise.resolve('OK') : refused()),
      get: () => refused(),
      del: () => refused(),
    };
    const clock = createManualClock(0);
    const dedupe = createResilientDedupe(redis as never, 'p:', logger, clock);
    expect(await dedupe.claim(5)).toBe('claimed');
    await dedupe.done(5);
    expect(await dedupe.claim(5)).toBe('done'); // this process's memory first: no Redis call
    // two fallbacks: one warning, the other at debug
    const outage = 'update dedupe: Redis unavailable, this process remembers alone';
    expect(lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', outage],
      ['debug', outage],
    ]);
    up = true;
    expect(await dedupe.claim(6)).toBe('claimed');
    // a success right after a fallback may be another master of a cluster answering: not the end yet
    expect(lines).toHaveLength(2);
    clock.advance(5_000);
    await dedupe.done(6);
    expect(lines.slice(2)).toMatchObject([{ level: 'info', msg: 'update dedupe: Redis answers again', failures: 2 }]);
  });
});
