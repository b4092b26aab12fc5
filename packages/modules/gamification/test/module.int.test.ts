// The module through the bus (memory transport, outbox relay, inbox) and a real grammY bot,
// on PostgreSQL; Telegram is a recording transformer.
import { AsyncLocalStorage } from 'node:async_hooks';
import { createConfigManager } from '@diana/config';
import { createPostgres } from '@diana/db';
import { createEventBus, type EventEnvelope } from '@diana/event-bus';
import { createCallbackSigner } from '@diana/security';
import { verifyCallbacks } from '@diana/security/grammy';
import {
  createBarrier,
  createRecordingApi,
  createUpdateFactory,
  FAKE_BOT_INFO,
  until as pollUntil,
} from '@diana/test-services';
import { BESITOS_MAX, newId } from '@diana/utils';
import { Bot } from 'grammy';
import type { Update } from 'grammy/types';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { checkLedgerInvariants } from '../src/ledger.js';
import { createGamificationModule, type GamificationContext } from '../src/module.js';
import { GAMIFICATION_TEMPLATES } from '../src/templates.js';
import { createStage } from './fixtures/stage.js';

const stage = await createStage('gamification');
const { db, transport, events, bus, config, users } = stage;
const admin = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: GAMIFICATION_TEMPLATES });
const signer = createCallbackSigner({ callback_secret: 'g'.repeat(40) });
const gamification = createGamificationModule({}, { db, bus, config, signer, timezone: 'Europe/Madrid' });
beforeAll(async () => {
  await stage.start();
  await admin.start();
  for (const s of gamification.subscriptions)
    if (s.mode === 'broadcast') bus.subscribe(s.types as never, s.handler as never, { mode: 'broadcast' });
    else bus.subscribe(s.group, s.types as never, s.handler as never);
});
afterAll(async () => {
  await admin.close();
  await stage.close();
});

const api = createRecordingApi();
const bot = new Bot<GamificationContext>('0:test', { botInfo: FAKE_BOT_INFO });
bot.api.config.use(api.transformer as never);
const ids = new Map<number, string>();
// as the app resolves users: only someone who wrote to the bot in private has one
bot.use(async (ctx, next) => {
  const id = ids.get(ctx.from?.id ?? 0);
  ctx.user = id ? { id, role: 'FREE', telegram_id: ctx.from?.id ?? 0 } : undefined;
  await next();
});
// how many updates of one user are being handled at once (the concurrency tests prove contention)
const inFlight = new Map<number, number>();
const peakInFlight = new Map<number, number>();
bot.use(async (ctx, next) => {
  const tg = ctx.from?.id ?? 0;
  inFlight.set(tg, (inFlight.get(tg) ?? 0) + 1);
  peakInFlight.set(tg, Math.max(peakInFlight.get(tg) ?? 0, inFlight.get(tg) ?? 0));
  try {
    await next();
  } finally {
    inFlight.set(tg, (inFlight.get(tg) ?? 1) - 1);
  }
});
bot.use(verifyCallbacks(signer));
bot.use(gamification.composer);
const updates = createUpdateFactory();
const command = (tg: number, text: string) => bot.handleUpdate(updates.message(tg, text) as Update);
const press = (tg: number, data: string) => bot.handleUpdate(updates.press(tg, data) as Update);
const lastText = (tg: number) => api.lastText(tg);
const lastAnswer = () => api.lastAnswer();
/** Registers a user the way the app does: the row and user.registered in one transaction. */
const register = async (tg: number) => {
  const id = await db.transaction(async () => {
    const { user } = await users.upsertFromTelegram({ id: tg, first_name: `U${tg}` });
    await bus.publish('user.registered', { user_id: user.id }, { key: user.id });
    return user.id;
  });
  ids.set(tg, id);
  return id;
};
const until = (check: () => Promise<boolean> | boolean, ms = 15_000) => pollUntil(check, ms, 20);
const transactions = async (user: string, source: string) => {
  const [row] = await db.sql<{ n: number; sum: number }[]>`
    select count(*)::int as n, coalesce(sum(amount), 0)::int as sum from besitos_transactions where user_id = ${user} and source = ${source}`;
  return row ?? { n: 0, sum: 0 };
};

describe('the gamification module', () => {
  it('flow 1: user.registered opens the wallet with the welcome bonus, once', async () => {
    const user = await register(301);
    expect(await until(async () => (await gamification.ledger.balance(user)) === 50)).toBe(true);
    await command(301, '/saldo');
    expect(lastText(301)).toContain('50 besitos');
  });

  it("a new user's first /saldo already counts the welcome bonus, paid once whoever comes first", async () => {
    // the user row exists, user.registered is still on its way (published below, after /saldo)
    const { user } = await users.upsertFromTelegram({ id: 310, first_name: 'U310' });
    ids.set(310, user.id);
    await command(310, '/saldo');
    expect(lastText(310)).toContain('50');
    await db.transaction(() => bus.publish('user.registered', { user_id: user.id }, { key: user.id }));
    expect(await until(async () => (await transactions(user.id, 'welcome')).n === 1)).toBe(true);
    const handled = async () =>
      (
        await db.sql`select 1 from event_inbox where group_name = 'gamification' and event_id in (
        select id from event_outbox where type = 'user.registered' and key = ${user.id})`
      ).length === 1;
    expect(await until(handled)).toBe(true);
    await command(310, '/saldo');
    expect(lastText(310)).toContain('50');
    expect(await transactions(user.id, 'welcome')).toEqual({ n: 1, sum: 50 });
  });

  it('the same narrative.decision_made delivered 5 times (redeliveries and a replay) pays once', async () => {
    const user = await register(302);
    const event = (await bus.publish(
      'narrative.decision_made',
      { user_id: user, reward: 15 },
      { key: user },
    )) as EventEnvelope;
    expect(await until(async () => (await transactions(user, 'decision')).n === 1)).toBe(true);
    const handler = gamification.subscriptions.find((s) => s.types.includes('narrative.decision_made'))?.handler;
    for (let i = 0; i < 4; i++) await handler?.(event); // what a redelivery or a DLQ replay hands the handler
    expect(await transactions(user, 'decision')).toEqual({ n: 1, sum: 15 });
    // /saldo after the award committed shows it
    // welcome 50 + decision 15 + the 'primera_decision' achievement 50, each once
    expect(await until(async () => (await gamification.ledger.balance(user)) === 115)).toBe(true);
    expect(await transactions(user, 'achievement:primera_decision')).toEqual({ n: 1, sum: 50 });
    await command(302, '/saldo');
    expect(lastText(302)).toContain('115 besitos');
  });

  it("a new user's events handled at once by two processes queue on the balance row: none deadlocks", async () => {
    // a second process: its own module and pool on the same database
    const otherDb = createPostgres({ url: stage.url, pool_max: 10 });
    const other = createGamificationModule({}, { db: otherDb, bus, config, signer, timezone: 'Europe/Madrid' });
    const decide = (module: typeof gamification) =>
      module.subscriptions.find((s) => s.types.includes('narrative.decision_made'))?.handler;
    const envelope = (user: string, reward: number) =>
      ({
        id: newId(),
        type: 'narrative.decision_made',
        occurred_at: new Date().toISOString(),
        payload: { user_id: user, reward },
      }) as unknown as EventEnvelope;
    const waitingOnLocks = async () => {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from pg_stat_activity
        where datname = current_database() and wait_event_type = 'Lock'`;
      return row?.n ?? 0;
    };
    try {
      // decisions paying nothing (counted first, they used to lock the counters before the balance)
      // mixed with paying ones; then all paying
      for (const [round, rewards] of [[0, 5], [5]].entries()) {
        const { user } = await users.upsertFromTelegram({ id: 330 + round, first_name: 'U' }); // no wallet yet
        const events = Array.from({ length: 12 }, (_, i) => envelope(user.id, rewards[i % rewards.length] ?? 0));
        // another transaction creating the wallet holds every handler at its first lock, then gives
        // way (rolls back): the handlers meet one another, and the first one through creates the wallet
        let giveWay!: () => void;
        const gaveWay = new Promise<void>((resolve) => {
          giveWay = resolve;
        });
        const held = db
          .transaction(async (tx) => {
            await tx`insert into gamification_balances (user_id) values (${user.id})`;
            await gaveWay;
            throw new Error('rolled back');
          })
          .catch(() => undefined);
        expect(await until(async () => (await waitingOnLocks()) === 0)).toBe(true);
        const barrier = createBarrier(events.length);
        const handled = Promise.allSettled(
          events.map(async (event, i) => {
            await barrier.wait();
            await decide(i % 2 ? other : gamification)?.(event);
          }),
        );
        // contention: handlers wait on a lock at once (before, on the balance row or on the
        // counters). At least two, not a share of them: through PgBouncer on a busy CI pass fewer
        // than half were seen waiting at one time, though all of them ran
        expect(await until(async () => (await waitingOnLocks()) >= 2)).toBe(true);
        giveWay();
        await held;
        const failed = (await handled).filter((r) => r.status === 'rejected');
        expect(failed.map((r) => (r as PromiseRejectedResult).reason?.cause?.code)).toEqual([]);
        const paying = events.filter((e) => (e.payload as { reward: number }).reward > 0).length;
        expect(await transactions(user.id, 'decision')).toEqual({ n: paying, sum: paying * 5 });
        expect(await transactions(user.id, 'achievement:primera_decision')).toEqual({ n: 1, sum: 50 });
        expect(await transactions(user.id, 'mission:decide_5')).toEqual({ n: 1, sum: 50 });
        const [counter] = await db.sql<{ count: number }[]>`
          select count from gamification_counters where user_id = ${user.id} and counter = 'narrative.decision_made'`;
        expect(counter?.count).toBe(events.length);
        expect(await gamification.ledger.balance(user.id)).toBe(paying * 5 + 100);
      }
      expect(await checkLedgerInvariants(db)).toEqual({ ok: true, problems: [] });
    } finally {
      await otherDb.close();
    }
  });

  it("a payment made by one process shows at once in another process's /perfil (no cached balance to go stale)", async () => {
    // a second bot process on the same database and bus, none of its consumers running
    const other = createGamificationModule({}, { db, bus, config, signer, timezone: 'Europe/Madrid' });
    try {
      const user = await register(304);
      expect(await until(async () => (await gamification.ledger.balance(user)) === 50)).toBe(true);
      expect((await other.summary(user)).balance).toBe(50);
      expect(other.subscriptions.some((s) => s.mode === 'broadcast')).toBe(false);
      await bus.publish('narrative.decision_made', { user_id: user, reward: 15 }, { key: user });
      // paid by this process's consumers: the other reads it as soon as it is committed
      expect(await until(async () => (await gamification.ledger.balance(user)) === 115)).toBe(true);
      expect((await other.summary(user)).balance).toBe(115);
    } finally {
      await other.close();
    }
  });

  it('flow 3: /regalo pays once per 24 h; a second try says when the next one is due', async () => {
    const user = await register(303);
    await command(303, '/regalo');
    expect(lastText(303)).toContain('Tu regalo de hoy');
    expect((await transactions(user, 'daily')).sum).toBe(10);
    await command(303, '/daily');
    expect(lastText(303)).toMatch(/El próximo estará listo en (1 día|2[0-3] horas( y \d+ minutos?)?)\.$/);
    expect((await transactions(user, 'daily')).n).toBe(1);
  });

  it('flow 4: reactions pay 2 for the first 3 posts a day, the 4th nothing; one post twice counts once; the mission pays once', async () => {
    const user = await register(304);
    const answers: unknown[] = [];
    for (const post of ['p1', 'p2', 'p3', 'p4']) {
      await press(304, gamification.reactButton(post).callback_data as string);
      answers.push(lastAnswer());
    }
    // the 4th is thanked without a promise: past the reactions paid a day
    expect(answers).toEqual([
      ...Array(3).fill('¡Gracias! 💋'),
      '¡Gracias! 💋 Por hoy tus reacciones ya no suman besitos: mañana vuelven a contar.',
    ]);
    await press(304, gamification.reactButton('p1').callback_data as string);
    expect(lastAnswer()).toBe('Ya habías reaccionado a esta publicación.');
    // all four reaction events handled (recorded in the inbox), not just the paid ones
    const handled = async () => {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from event_inbox i join event_outbox o on o.id = i.event_id
        where i.group_name = 'gamification' and o.type = 'channel.reaction_added' and o.key = ${user}`;
      return row?.n ?? 0;
    };
    expect(await until(async () => (await handled()) === 4)).toBe(true);
    expect(await transactions(user, 'reaction')).toEqual({ n: 3, sum: 6 });
    expect(await transactions(user, 'mission:reacciona_3')).toEqual({ n: 1, sum: 20 });
    const [count] = await db.sql<
      { n: number }[]
    >`select count(*)::int as n from gamification_reactions where user_id = ${user}`;
    expect(count?.n).toBe(4);
  });

  it('a channel reader who never wrote to the bot is answered once, pointed to the bot; nothing is recorded or paid', async () => {
    // the press as Telegram sends it from a channel post; no user: the app registers people in private only
    const update = updates.press(320, gamification.reactButton('stranger-post').callback_data as string);
    update.callback_query.message = {
      message_id: 7,
      date: 0,
      chat: { id: -100_320, type: 'channel', title: 'Diana' },
    } as never;
    const from = api.calls.length;
    await bot.handleUpdate(update as Update);
    const calls = api.calls.slice(from);
    // before: no answer at all (the button spun)
    expect(calls).toEqual([
      {
        method: 'answerCallbackQuery',
        payload: {
          callback_query_id: update.callback_query.id,
          text: 'Para que tus reacciones cuenten, escríbeme antes en privado: abre el bot y pulsa /start. 💋',
          url: 'https://t.me/diana_bot?start=reacciones',
        },
      },
    ]);
    const [reactions] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from gamification_reactions where post_id = 'stranger-post'`;
    expect(reactions?.n).toBe(0);
    const [events] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from event_outbox where type = 'channel.reaction_added' and envelope like '%stranger-post%'`;
    expect(events?.n).toBe(0);
  });

  it('reactions handled after midnight count on the day they were pressed: its cap, its mission', async () => {
    const user = await register(305);
    // yesterday's three reactions, published by a process whose clock is a day back (as a
    // backlog past midnight reaches the consumer), handled before today's presses
    const yesterday = Date.now() - 86_400_000;
    const late = createEventBus({}, { transport, events, db, clock: { now: () => yesterday } });
    await db.transaction(async () => {
      for (const post_id of ['y1', 'y2', 'y3'])
        await late.publish('channel.reaction_added', { user_id: user, post_id }, { key: user, user_id: user });
    });
    const handled = async (n: number) => {
      const [row] = await db.sql<{ n: number }[]>`
        select count(*)::int as n from event_inbox i join event_outbox o on o.id = i.event_id
        where i.group_name = 'gamification' and o.type = 'channel.reaction_added' and o.key = ${user}`;
      return (row?.n ?? 0) === n;
    };
    expect(await until(() => handled(3))).toBe(true);
    for (const post of ['t1', 't2', 't3']) await press(305, gamification.reactButton(post).callback_data as string);
    expect(await until(() => handled(6))).toBe(true);
    // today's three are paid too: yesterday's did not use up today's cap
    expect(await transactions(user, 'reaction')).toEqual({ n: 6, sum: 12 });
    const days = await db.sql<{ day: string; n: number }[]>`
      select day::text, count(*)::int as n from besitos_transactions
      where user_id = ${user} and source = 'reaction' group by day order by day`;
    expect(days.map((d) => d.n)).toEqual([3, 3]);
    // the daily mission completed in each day's period, paid once each
    expect(await transactions(user, 'mission:reacciona_3')).toEqual({ n: 2, sum: 40 });
    await late.close();
  });

  it('an admin changing the daily gift amount is paid by the next gift, without restart', async () => {
    const draft = await admin.createDraft(
      'gamification.rewards',
      { daily_gift: 25 },
      { actor: 'admin:1', reason: 'promo' },
    );
    await admin.publish(draft.id, { actor: 'admin:1', reason: 'promo' });
    expect(await until(() => (config.get('gamification.rewards') as { daily_gift: number }).daily_gift === 25)).toBe(
      true,
    );
    const user = await register(305);
    await command(305, '/regalo');
    expect((await transactions(user, 'daily')).sum).toBe(25);
  });

  it('a welcome bonus raised from 0 is not paid to users whose registration was handled at 0; a daily gift of 0 is off', async () => {
    const set = async (values: Record<string, number>) => {
      const draft = await admin.createDraft('gamification.rewards', values, { actor: 'admin:1', reason: 'test' });
      await admin.publish(draft.id, { actor: 'admin:1', reason: 'test' });
      expect(
        await until(() =>
          Object.entries(values).every(
            ([k, n]) => (config.get('gamification.rewards') as Record<string, number>)[k] === n,
          ),
        ),
      ).toBe(true);
    };
    await set({ welcome_bonus: 0, daily_gift: 0 });
    const user = await register(321);
    const handled = async () =>
      (
        await db.sql`select 1 from event_inbox where group_name = 'gamification' and event_id in (
        select id from event_outbox where type = 'user.registered' and key = ${user})`
      ).length === 1;
    expect(await until(handled)).toBe(true);
    await command(321, '/regalo');
    expect(lastText(321)).toBe('El regalo diario está en pausa ahora mismo. Vuelve a mirar otro día.');
    await set({ welcome_bonus: 50, daily_gift: 10 });
    await command(321, '/saldo');
    expect(lastText(321)).toContain('Tienes <b>0 besitos</b>');
    expect(await transactions(user, 'welcome')).toEqual({ n: 0, sum: 0 }); // before: 50, made from nothing
    await command(321, '/regalo'); // on again, and the pause left no cooldown
    expect((await transactions(user, 'daily')).sum).toBe(10);
  });

  it('the shop: a purchase spends once even on a double tap, grants the item and its clue; too poor is refused', async () => {
    const user = await register(306);
    expect(await until(async () => (await gamification.ledger.balance(user)) === 50)).toBe(true);
    await command(306, '/tienda');
    const shop = api.buttons(306);
    const rose = [...shop].find(([label]) => label.startsWith('Rosa negra'))?.[1] as string;
    const key = [...shop].find(([label]) => label.startsWith('Llave dorada'))?.[1] as string;
    await Promise.all([press(306, rose), press(306, rose)]);
    expect((await transactions(user, 'shop:rosa_negra')).sum).toBe(-30);
    expect(await gamification.ledger.balance(user)).toBe(20);
    await press(306, key);
    expect(String(lastAnswer())).toContain('Te faltan besitos');
    const owned = await db.sql<
      { item_id: string }[]
    >`select item_id from gamification_inventory where user_id = ${user}`;
    expect(owned.map((o) => o.item_id)).toEqual(['rosa_negra']);
    const [acquired] = await db.sql<{ n: number }[]>`
      select count(*)::int as n from event_outbox where type = 'gamification.item_acquired' and key = ${user}`;
    expect(acquired?.n).toBe(1);
  });

  it('a buy button charges the price its screen showed: after a change, nothing, and the shop again; the longest item id fits its button', async () => {
    const publishShop = async (items: unknown) => {
      const draft = await admin.createDraft('gamification.shop', items, { actor: 'admin:1', reason: 'precio' });
      await admin.publish(draft.id, { actor: 'admin:1', reason: 'precio' });
    };
    const shop = config.get('gamification.shop');
    const user = await register(312);
    expect(await until(async () => (await gamification.ledger.balance(user)) === 50)).toBe(true);
    await command(312, '/tienda');
    const shown = [...api.buttons(312)].find(([label]) => label.startsWith('Rosa negra'))?.[1] as string;
    try {
      await publishShop(shop.map((item) => (item.id === 'rosa_negra' ? { ...item, price: 49 } : item)));
      expect(await until(() => config.get('gamification.shop')[0]?.price === 49)).toBe(true);
      // before: "Es tuyo", and 49 taken for a rose shown at 30
      await press(312, shown);
      expect(lastAnswer()).toBe(
        'El precio de Rosa negra ha cambiado: ahora cuesta 49 besitos. No se te ha cobrado nada; aquí tienes la tienda al día.',
      );
      expect(await transactions(user, 'shop:rosa_negra')).toEqual({ n: 0, sum: 0 });
      expect(lastText(312)).toContain('<b>Rosa negra</b> — 49 besitos');
      const fresh = [...api.buttons(312)].find(([label]) => label.startsWith('Rosa negra'))?.[1] as string;
      await press(312, fresh);
      expect(lastAnswer()).toBe('Es tuyo: Rosa negra.');
      expect(await transactions(user, 'shop:rosa_negra')).toEqual({ n: 1, sum: -49 });
      // the longest id at the highest price still makes a button; one character more is refused
      await publishShop([{ id: 'x'.repeat(24), name: 'Larga', price: BESITOS_MAX }]);
      expect(await until(() => config.get('gamification.shop')[0]?.price === BESITOS_MAX)).toBe(true);
      await command(312, '/tienda');
      const [[label, data] = []] = [...api.buttons(312)];
      expect(label).toContain('Larga');
      expect(Buffer.byteLength(String(data))).toBeLessThanOrEqual(64);
      await expect(publishShop([{ id: 'x'.repeat(25), name: 'Larga', price: 1 }])).rejects.toMatchObject({
        code: 'E_CONFIG_INVALID',
      });
    } finally {
      await publishShop(shop);
      expect(await until(() => config.get('gamification.shop')[0]?.id === 'rosa_negra')).toBe(true);
    }
  });

  it('the shop never sells what the user owns (an item found in the story is marked and refused), and /mochila lists the bought objects', async () => {
    const user = await register(309);
    await db.transaction(() =>
      bus.publish(
        'admin.besitos_granted',
        { user_id: user, amount: 200, reason: 'test', actor: 'tg:1' },
        { key: user },
      ),
    );
    expect(await until(async () => (await gamification.ledger.balance(user)) === 250)).toBe(true);
    // the golden key's clue was found in the story
    await db.transaction(() =>
      bus.publish('narrative.clue_found', { user_id: user, clue: 'llave_dorada' }, { key: user }),
    );
    expect(
      await until(async () => {
        const rows = await db.sql`select 1 from gamification_clues where user_id = ${user} and clue = 'llave_dorada'`;
        return rows.length === 1;
      }),
    ).toBe(true);
    // the shop's screen reads what is owned and the balance on the pool, no transaction. Counted
    // for this update only: the relay's polls (every 20 ms here) and the consumers begin theirs
    // meanwhile (CI saw one when the update took longer than a poll)
    const update = new AsyncLocalStorage<true>();
    const transaction = db.transaction;
    let begun = 0;
    const began = vi.spyOn(db, 'transaction').mockImplementation(((...args: Parameters<typeof transaction>) => {
      if (update.getStore()) begun++;
      return transaction.apply(db, args);
    }) as typeof transaction);
    try {
      await update.run(true, () => command(309, '/tienda'));
      expect(begun).toBe(0);
    } finally {
      began.mockRestore();
    }
    expect(lastText(309)).toContain('Tienes 250 besitos.');
    const labels = [...api.buttons(309).keys()];
    expect(labels).toContain('✓ Llave dorada — en tu mochila');
    expect(labels.find((l) => l.startsWith('Rosa negra'))).toBeDefined();
    const key = api.buttons(309).get('✓ Llave dorada — en tu mochila') as string;
    await press(309, key);
    expect(lastAnswer()).toBe('Ya tienes Llave dorada en tu mochila: no se te cobra nada.');
    expect(await gamification.ledger.balance(user)).toBe(250);
    expect((await transactions(user, 'shop:llave_dorada')).n).toBe(0);

    // a bought item is shown as owned, refused a second time, and listed in /mochila
    const rose = [...api.buttons(309)].find(([label]) => label.startsWith('Rosa negra'))?.[1] as string;
    await press(309, rose);
    expect(lastAnswer()).toBe('Es tuyo: Rosa negra.');
    await command(309, '/tienda');
    const again = api.buttons(309).get('✓ Rosa negra — en tu mochila') as string;
    expect(again).toBeDefined();
    await press(309, again);
    expect(lastAnswer()).toBe('Ya tienes Rosa negra en tu mochila: no se te cobra nada.');
    expect(await gamification.ledger.balance(user)).toBe(220);
    await command(309, '/mochila');
    expect(lastText(309)).toBe('<b>Tus objetos</b>\n• Rosa negra');
  });

  it("pays an admin's adjustment through the ledger; a negative one takes at most what is there", async () => {
    const user = await register(307);
    expect(await until(async () => (await gamification.ledger.balance(user)) === 50)).toBe(true);
    await bus.publish('admin.besitos_granted', { user_id: user, amount: 30, reason: 'compensación', actor: 'tg:1' });
    expect(await until(async () => (await gamification.ledger.balance(user)) === 80)).toBe(true);
    await bus.publish('admin.besitos_granted', { user_id: user, amount: -500, reason: 'corrección', actor: 'tg:1' });
    expect(await until(async () => (await gamification.ledger.balance(user)) === 0)).toBe(true);
    expect((await transactions(user, 'admin')).n).toBe(2);
    // what was actually done, for the admin: +30 as asked, then −80 of the −500 asked
    const applied = async () =>
      (
        await db.sql<{ envelope: string }[]>`
          select envelope from event_outbox where type = 'gamification.adjustment_applied' and key = ${user} order by id`
      ).map((r) => JSON.parse(r.envelope).payload);
    expect(await until(async () => (await applied()).length === 2)).toBe(true);
    expect(await applied()).toEqual([
      { user_id: user, requested: 30, applied: 30, balance: 80, actor: 'tg:1', reason: 'compensación' },
      { user_id: user, requested: -500, applied: -80, balance: 0, actor: 'tg:1', reason: 'corrección' },
    ]);
  });

  it('an amount out of 1..BESITOS_MAX in an event or a shop price is refused before anything is written', async () => {
    const user = await register(308);
    expect(await until(async () => (await gamification.ledger.balance(user)) === 50)).toBe(true);
    const ledgerRows = async () => {
      const [row] = await db.sql<{ n: number }[]>`select count(*)::int as n from besitos_transactions`;
      return row?.n ?? 0;
    };
    const rowsBefore = await ledgerRows();
    const handler = (type: string) => gamification.subscriptions.find((s) => s.types.includes(type))?.handler;
    const envelope = (type: string, payload: unknown) => ({ id: newId(), type, payload }) as unknown as EventEnvelope;
    for (const amount of [1e21, Number.MAX_SAFE_INTEGER + 2, BESITOS_MAX + 1, -1e21, 1.5, 0, Number.NaN])
      await expect(
        handler('admin.besitos_granted')?.(
          envelope('admin.besitos_granted', { user_id: user, amount, reason: 'x', actor: 'tg:1' }),
        ),
        String(amount),
      ).rejects.toMatchObject({ code: 'E_BUS_EVENT_SCHEMA' });
    for (const reward of [1e21, BESITOS_MAX + 1, -5, 1.5])
      await expect(
        handler('narrative.decision_made')?.(envelope('narrative.decision_made', { user_id: user, reward })),
        String(reward),
      ).rejects.toMatchObject({ code: 'E_BUS_EVENT_SCHEMA' });
    expect(await ledgerRows()).toBe(rowsBefore);
    expect(await gamification.ledger.balance(user)).toBe(50);
    // a shop price beyond the range never becomes live
    const shop = config.get('gamification.shop');
    for (const price of [1e21, BESITOS_MAX + 1, 0, 1.5]) {
      const attempt = async () => {
        const draft = await admin.createDraft('gamification.shop', [{ id: 'diamante', name: 'Diamante', price }], {
          actor: 'admin:1',
          reason: 'precio',
        });
        await admin.publish(draft.id, { actor: 'admin:1', reason: 'precio' });
      };
      await expect(attempt(), String(price)).rejects.toMatchObject({ code: 'E_CONFIG_INVALID' });
    }
    expect(config.get('gamification.shop')).toEqual(shop);
    // a good amount is paid
    await handler('admin.besitos_granted')?.(
      envelope('admin.besitos_granted', { user_id: user, amount: 7, reason: 'x', actor: 'tg:1' }),
    );
    expect(await gamification.ledger.balance(user)).toBe(57);
  });

  it('a mission target or an achievement threshold out of 1..1 000 000 never becomes live; at the top, events still pay', async () => {
    const publish = async (key: 'gamification.achievements' | 'gamification.missions', value: unknown) => {
      const draft = await admin.createDraft(key, value, { actor: 'admin:1', reason: 'test' });
      await admin.publish(draft.id, { actor: 'admin:1', reason: 'test' });
    };
    const achievements = config.get('gamification.achievements');
    const missions = config.get('gamification.missions');
    // 3 000 000 000 is a valid JSON integer: before, it went live, and every decision it counted
    // failed in SQL (an integer out of range) and went to the dead letters, its payment with it
    for (const threshold of [3_000_000_000, 1_000_001, 0, 1.5]) {
      const achievement = { id: 'mucho', title: 'Mucho', event: 'narrative.decision_made', threshold, reward: 10 };
      await expect(publish('gamification.achievements', [achievement]), String(threshold)).rejects.toMatchObject({
        code: 'E_CONFIG_INVALID',
      });
      const mission = {
        id: 'mucho',
        title: 'Mucho',
        kind: 'weekly',
        event: 'narrative.decision_made',
        target: threshold,
        reward: 10,
      };
      await expect(publish('gamification.missions', [mission]), String(threshold)).rejects.toMatchObject({
        code: 'E_CONFIG_INVALID',
      });
    }
    expect(config.get('gamification.achievements')).toEqual(achievements);
    expect(config.get('gamification.missions')).toEqual(missions);
    const top = { id: 'mucho', title: 'Mucho', event: 'narrative.decision_made', reward: 10 };
    await publish('gamification.achievements', [{ ...top, threshold: 1_000_000 }]);
    await publish('gamification.missions', [{ ...top, kind: 'weekly', target: 1_000_000 }]);
    try {
      expect(await until(() => config.get('gamification.achievements')[0]?.threshold === 1e6)).toBe(true);
      expect(await until(() => config.get('gamification.missions')[0]?.target === 1e6)).toBe(true);
      const user = await register(311);
      await bus.publish('narrative.decision_made', { user_id: user, reward: 5 }, { key: user });
      expect(await until(async () => (await transactions(user, 'decision')).n === 1)).toBe(true);
      expect(await transactions(user, 'decision')).toEqual({ n: 1, sum: 5 });
    } finally {
      await publish('gamification.achievements', achievements);
      await publish('gamification.missions', missions);
      expect(await until(() => config.get('gamification.missions')[0]?.id === missions[0]?.id)).toBe(true);
    }
  });

  it('a new user claiming /regalo 4 times at once is paid once (50 users, claims released together)', async () => {
    const tgs = Array.from({ length: 50 }, (_, i) => 1_000 + i);
    const userIds = new Map<number, string>();
    for (const tg of tgs) userIds.set(tg, await register(tg));
    const amount = (config.get('gamification.rewards') as { daily_gift: number }).daily_gift;
    const barrier = createBarrier(tgs.length * 4);
    await Promise.all(
      tgs.flatMap((tg) =>
        Array.from({ length: 4 }, async () => {
          await barrier.wait();
          await command(tg, '/regalo');
        }),
      ),
    );
    for (const tg of tgs) {
      expect(await transactions(userIds.get(tg) as string, 'daily'), `user ${tg}`).toEqual({ n: 1, sum: amount });
      const replies = api.sentTo(tg).map((c) => String(c.payload.text));
      expect(replies.filter((t) => t.startsWith('Tu regalo de hoy'))).toHaveLength(1);
      expect(replies.filter((t) => t.startsWith('Ya has recogido tu regalo'))).toHaveLength(3);
    }
    // the claims of a user did overlap: most users had two or more in flight together
    const overlapped = tgs.filter((tg) => (peakInFlight.get(tg) ?? 0) >= 2);
    expect(overlapped.length).toBeGreaterThan(tgs.length / 2);
  });

  it('keeps the ledger invariants through all of it', async () => {
    expect(await checkLedgerInvariants(db)).toEqual({ ok: true, problems: [] });
  });
});
