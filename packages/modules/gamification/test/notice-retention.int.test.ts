// Told payment notices are removed after their retention: which rows go (and which never do),
// in batches, beside another process, through the module's start/close, and what a removed
// notice's event does when it comes again. On PostgreSQL.
import { CONFIG_EVENTS, CONFIG_MIGRATIONS, createConfigManager } from '@diana/config';
import { createPostgres, createUserRepository, DB_MIGRATIONS, migrate } from '@diana/db';
import {
  createEventBus,
  createMemoryTransport,
  EVENT_BUS_MIGRATIONS,
  type EventEnvelope,
  mergeEvents,
} from '@diana/event-bus';
import { createCallbackSigner } from '@diana/security';
import { captureLogLines, createRecordingApi, FAKE_BOT_INFO, until, useTestDatabase } from '@diana/test-services';
import { createLogger, isDianaError, newId } from '@diana/utils';
import { Bot } from 'grammy';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GAMIFICATION_EVENTS } from '../src/events.js';
import { GAMIFICATION_MIGRATIONS } from '../src/migrations.js';
import { createGamificationModule } from '../src/module.js';
import { createNotices } from '../src/notices.js';
import { createNoticePruner, gamificationSettings } from '../src/retention.js';
import { GAMIFICATION_TEMPLATES } from '../src/templates.js';

const testDb = await useTestDatabase('gam-notice-retention');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 6 });
const users = createUserRepository(db);
const api = createRecordingApi();
const bot = new Bot('0:test', { botInfo: FAKE_BOT_INFO });
bot.api.config.use(api.transformer as never);
const DAY = 86_400_000;
let user_id = '';
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, CONFIG_MIGRATIONS, GAMIFICATION_MIGRATIONS]);
  ({
    user: { id: user_id },
  } = await users.upsertFromTelegram({ id: 4_201, first_name: 'Retention' }));
});
beforeEach(async () => {
  await db.sql`delete from gamification_notices`;
  api.calls.length = 0;
});
afterAll(async () => {
  await db.close();
});

const notices = () => createNotices({ db, api: () => bot.api, missionTitle: (id) => id, achievementTitle: (id) => id });

/** `n` notices in `state`, told `age_ms` ago (each a millisecond older than the one before); their ids. */
async function add(state: string, age_ms: number, n = 1): Promise<string[]> {
  const ids = Array.from({ length: n }, () => newId());
  const now = Date.now();
  for (const [i, id] of ids.entries())
    await db.sql`
      insert into gamification_notices (event_id, user_id, state, text, created_at, updated_at)
      values (${id}, ${user_id}, ${state}, 'told', ${new Date(now - age_ms - i - 1_000)}, ${new Date(now - age_ms - i)})`;
  return ids;
}
/** The ids of the notices left, sorted as JavaScript sorts (the expectations are). */
const left = async () =>
  (await db.sql<{ event_id: string }[]>`select event_id from gamification_notices`).map((r) => r.event_id).sort();

describe('notices.prune', () => {
  it('removes told notices past the retention, oldest first, in batches; pending and recent ones stay', async () => {
    const sent = await add('sent', 2 * DAY, 5); // the last of them the oldest
    const undeliverable = await add('undeliverable', 3 * DAY, 2); // older still
    const stuck = await add('sending', 5 * DAY); // a crash mid-send, the oldest: never told again
    const kept = [...(await add('pending', 5 * DAY)), ...(await add('sent', 60_000, 2))];
    const prune = notices().prune;
    // two batches of three: the six oldest past pending
    expect(await prune({ retention_ms: DAY, batch: 3, max_batches: 2 })).toBe(6);
    expect(await left()).toEqual([...kept, sent[0], sent[1]].sort());
    // a batch short of full ends the prune
    expect(await prune({ retention_ms: DAY, batch: 3, max_batches: 2 })).toBe(2);
    expect(await prune({ retention_ms: DAY, batch: 3, max_batches: 2 })).toBe(0);
    expect(await left()).toEqual([...kept].sort());
    expect(undeliverable.concat(stuck)).toHaveLength(3);
  });

  it('a notice left sending goes only when past the retention and a day old (younger, it may be on its way)', async () => {
    const HOUR = 3_600_000;
    const young = await add('sending', 2 * HOUR);
    const recent = await add('sending', 10 * 60_000);
    const told = await add('sent', 2 * HOUR);
    const stuck = await add('sending', 25 * HOUR);
    expect(await notices().prune({ retention_ms: HOUR, batch: 10, max_batches: 5 })).toBe(2);
    expect(await left()).toEqual([...young, ...recent].sort());
    expect(told.concat(stuck)).toHaveLength(2);
  });

  it('a signal already aborted sends no statement', async () => {
    await add('sent', 2 * DAY, 3);
    const stop = new AbortController();
    stop.abort();
    expect(await notices().prune({ retention_ms: DAY, batch: 10, max_batches: 5, signal: stop.signal })).toBe(0);
    expect(await left()).toHaveLength(3);
  });

  it('skips rows another transaction holds instead of waiting for them; they go at the next prune', async () => {
    const held = await add('sent', 2 * DAY, 2);
    const free = await add('sent', 3 * DAY, 3);
    let release = () => {};
    let locked = () => {};
    const holding = new Promise<void>((resolve) => {
      locked = resolve;
    });
    // another process's prune, mid-way: it holds two of the rows
    const other = db.transaction(async (tx) => {
      await tx`select 1 from gamification_notices where event_id = any(${held}::text[]) for update`;
      locked();
      await new Promise<void>((resolve) => {
        release = resolve;
      });
    });
    await holding;
    try {
      // while they are held: the other three go, and the prune comes back (a wait would hang here)
      const removed = await Promise.race([
        notices().prune({ retention_ms: DAY, batch: 10, max_batches: 5 }),
        new Promise<string>((resolve) => setTimeout(() => resolve('blocked'), 10_000).unref()),
      ]);
      expect(removed).toBe(3);
      expect(await left()).toEqual([...held].sort());
    } finally {
      release();
      await other;
    }
    expect(free).toHaveLength(3);
    expect(await notices().prune({ retention_ms: DAY, batch: 10, max_batches: 5 })).toBe(2);
    expect(await left()).toEqual([]);
  });

  it("a removed notice's event, delivered again, tells nothing", async () => {
    const event_id = newId();
    await db.sql`
      insert into gamification_notices (event_id, user_id, state, text)
      values (${event_id}, ${user_id}, 'pending', 'Has ganado 50 besitos')`;
    const event = {
      id: event_id,
      type: 'gamification.besitos_awarded',
      payload: { user_id, amount: 50, source: 'welcome' },
    } as unknown as EventEnvelope;
    await notices().subscription.handler(event);
    expect(api.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(1);
    await db.sql`update gamification_notices set updated_at = now() - interval '8 days' where event_id = ${event_id}`;
    expect(await notices().prune({ retention_ms: 7 * DAY, batch: 10, max_batches: 1 })).toBe(1);
    // a new process (nothing remembered), then the same one: nothing pending, nothing sent
    await notices().subscription.handler(event);
    expect(api.calls.filter((c) => c.method === 'sendMessage')).toHaveLength(1);
  });
});

describe('the module prunes from start() to close()', () => {
  const transport = createMemoryTransport();
  const bus = createEventBus({}, { transport, events: mergeEvents(GAMIFICATION_EVENTS, CONFIG_EVENTS), db });
  const config = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: GAMIFICATION_TEMPLATES });
  const signer = createCallbackSigner({ callback_secret: 'r'.repeat(40) });
  const deps = { db, bus, config, signer, api: () => bot.api };
  afterAll(async () => {
    await bus.close();
  });

  it('removes told notices past notice_retention_ms every notice_prune_interval_ms', async () => {
    const gamification = createGamificationModule({ notice_retention_ms: 60_000, notice_prune_interval_ms: 20 }, deps);
    const old = await add('sent', 2 * 60_000, 3);
    const recent = await add('sent', 1_000);
    expect(await left()).toHaveLength(4);
    await gamification.start();
    try {
      expect(await until(async () => (await left()).length === 1)).toBe(true);
      expect(await left()).toEqual(recent);
      // a notice that comes of age later goes at a later interval
      const later = await add('undeliverable', 3 * 60_000);
      expect(await until(async () => (await left()).length === 1)).toBe(true);
      expect(old.concat(later).some((id) => recent.includes(id))).toBe(false);
    } finally {
      await gamification.close();
    }
  });

  it('refuses settings out of range with E_GAMIFICATION_CONFIG, naming the key', () => {
    for (const settings of [
      { notice_retention_ms: -1 },
      { notice_retention_ms: 1.5 },
      { notice_retention_ms: Number.NaN },
      { notice_retention_ms: 3_651 * DAY },
      { notice_prune_interval_ms: 0 },
    ]) {
      let error: unknown;
      try {
        createGamificationModule(settings, deps);
      } catch (e) {
        error = e;
      }
      expect(isDianaError(error, 'E_GAMIFICATION_CONFIG'), JSON.stringify(settings)).toBe(true);
      expect(String(error)).toContain(Object.keys(settings)[0]);
    }
    expect(gamificationSettings({})).toEqual({ notice_retention_ms: 7 * DAY, notice_prune_interval_ms: 60_000 });
  });
});

describe('the pruner loop', () => {
  it('with retention 0 never prunes (while one with a retention has pruned five times)', async () => {
    let kept = 0;
    let pruned = 0;
    const logger = createLogger({ level: 'silent' });
    const keeping = createNoticePruner(
      async () => ++kept,
      { notice_retention_ms: 0, notice_prune_interval_ms: 5 },
      logger,
    );
    const pruning = createNoticePruner(
      async () => ++pruned,
      { notice_retention_ms: 1, notice_prune_interval_ms: 5 },
      logger,
    );
    keeping.start();
    pruning.start();
    expect(await until(() => pruned >= 5)).toBe(true);
    await Promise.all([keeping.close(), pruning.close()]);
    expect(kept).toBe(0);
  });

  it('a failing prune is logged once as a warning, tried again, and its recovery logged', async () => {
    const { destination, lines } = captureLogLines();
    const logger = createLogger({ level: 'debug', destination });
    let calls = 0;
    const pruner = createNoticePruner(
      async () => {
        calls++;
        if (calls <= 3) throw new Error('connection refused');
        return 0;
      },
      { notice_retention_ms: 1, notice_prune_interval_ms: 5 },
      logger,
    );
    pruner.start();
    expect(await until(() => calls >= 5)).toBe(true);
    await pruner.close();
    const at = (level: string) => lines.filter((l) => l.level === level).map((l) => l.msg);
    expect(at('warn')).toEqual([
      'removing payment notices past their retention failed; tried again at the next interval',
    ]);
    expect(at('info')).toEqual(['payment notices past their retention are removed again']);
  });

  it('close waits for a prune under way and stops the loop', async () => {
    let finish = () => {};
    let started = 0;
    const pruner = createNoticePruner(
      () => {
        started++;
        return new Promise<number>((resolve) => {
          finish = () => resolve(0);
        });
      },
      { notice_retention_ms: 1, notice_prune_interval_ms: 5 },
      createLogger({ level: 'silent' }),
    );
    pruner.start();
    expect(await until(() => started === 1)).toBe(true);
    let closed = false;
    const closing = pruner.close().then(() => {
      closed = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    finish();
    await closing;
    expect(started).toBe(1);
  });
});
