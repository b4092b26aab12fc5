// The gamification module: wires the ledger, daily gift, shop, missions, achievements and payment
// notices into one composer and its subscriptions. Over 300 lines because it is the wiring of
// seven parts, each in its own file; no logic of theirs lives here.
import type { ConfigReader } from '@diana/config';
import type { Database } from '@diana/db';
import {
  createInbox,
  type DianaModule,
  EVENT_BUS_ERROR_CODES,
  type EventBusService,
  type EventEnvelope,
  type EventRegistry,
  type ModuleSubscription,
} from '@diana/event-bus';
import type { TransactionSql } from '@diana/postgres';
import { type CallbackSigner, cutText, oneLine, type RateLimiter } from '@diana/security';
import { isSignedAction } from '@diana/security/grammy';
import { formatBesitos, formatDuration, getPackageLogger, type Logger, parseOrThrow } from '@diana/utils';
import { type Api, Composer } from 'grammy';
import type { InlineKeyboardButton } from 'grammy/types';
import type * as v from 'valibot';
import { createDailyGift } from './daily.js';
import { CONSUMED, type GAMIFICATION_EVENTS } from './events.js';
import { createLedger, type Ledger } from './ledger.js';
import { GAMIFICATION_MIGRATIONS } from './migrations.js';
import { createNotices } from './notices.js';
import { createProgress } from './progress.js';
import { createNoticePruner, type GamificationSettings, gamificationSettings } from './retention.js';
import { createScreens } from './screens.js';
import { BUY_ACTION, createShop } from './shop.js';
import {
  createSteps,
  type GamificationContext,
  HISTORY_ACTION,
  HISTORY_MAX_PAGE,
  type Screen,
  type ScreenName,
  STEP_ACTION,
} from './steps.js';
import type { ACHIEVEMENTS, GAMIFICATION_TEMPLATES, MISSIONS, REWARDS, SHOP } from './templates.js';
import { TEXTS } from './texts.js';

export type { GamificationContext } from './steps.js';

export interface GamificationDeps {
  readonly db: Database;
  readonly bus: EventBusService<EventRegistry & typeof GAMIFICATION_EVENTS>;
  /** Must hold `GAMIFICATION_TEMPLATES` (amounts, caps, missions, achievements, shop). */
  readonly config: ConfigReader<typeof GAMIFICATION_TEMPLATES>;
  readonly signer: CallbackSigner;
  /** The `purchase` policy is applied to shop buttons when given. */
  readonly limiter?: RateLimiter;
  /**
   * The bot's API, for telling users what they were paid (read when a notice is sent). Without
   * it no payment is told: `subscriptions` then has no `gamification-notices` group.
   */
  readonly api?: () => Api;
  /** IANA timezone of the bot's days. @default 'Europe/Madrid' */
  readonly timezone?: string;
  readonly logger?: Logger;
}

/**
 * The economy as the app composes it. `start()` begins removing told notices past their
 * retention (every `notice_prune_interval_ms`; nothing else runs on its own); `close()` stops it.
 */
export interface GamificationModule extends DianaModule<Composer<GamificationContext>> {
  readonly ledger: Ledger;
  /** The react button for a channel post (the admin module attaches it to scheduled posts). */
  reactButton(post_id: string): InlineKeyboardButton.CallbackButton;
  /** The react button's signed action: the one button the app lets through outside private chats. */
  readonly reactAction: string;
  /**
   * What a profile shows: the balance and the daily-gift streak (consecutive days with a gift, while
   * the last one is under 48 h old — the streak the next /regalo continues; 0 otherwise).
   */
  summary(user_id: string): Promise<{ balance: number; streak_days: number }>;
  /** An object's name as the shop shows it (other modules name objects by it), or undefined. */
  itemName(id: string): string | undefined;
}

/**
 * A consumed event's fields, or `E_BUS_EVENT_SCHEMA` (the bus dead-letters it at once): an amount
 * out of 1..BESITOS_MAX is refused before the handler writes anything.
 */
const read = <S extends v.GenericSchema>(schema: S, event: EventEnvelope): v.InferOutput<S> =>
  parseOrThrow(schema, event.payload, { code: EVENT_BUS_ERROR_CODES.EVENT_SCHEMA, message: `unusable ${event.type}` });

/** The start parameter of the link a stranger's press opens (counted in the bot's logs as any). */
const REACT_START = 'reacciones';
/** The signed action of a channel post's react button. */
const REACT_ACTION = 'gam.r';

/**
 * The answer to a react button pressed by someone the bot does not know: what to do, and the bot's
 * chat as the press's link (`t.me/<bot>?start=reacciones`, a deep link nobody owns: a plain /start).
 */
const strangerAnswer = (ctx: GamificationContext) => {
  const username = ctx.me?.username;
  return {
    text: TEXTS.reactStranger,
    ...(username ? { url: `https://t.me/${username}?start=${REACT_START}` } : {}),
  };
};

/** The economy: ledger, event rewards, daily gift, reactions, missions, achievements and the shop. */
export function createGamificationModule(settings: GamificationSettings, deps: GamificationDeps): GamificationModule {
  const options = gamificationSettings(settings);
  const logger = getPackageLogger(deps.logger, 'gamification');
  const { db, bus, config, signer } = deps;
  const timezone = deps.timezone ?? 'Europe/Madrid';
  const inbox = createInbox(db);
  const rewards = () => config.get('gamification.rewards') as (typeof REWARDS)['defaults'];
  // every payment told to its user (its notice queued in the payment's transaction, told by a
  // consumer group of its own: a failed send never fails a payment); without an api, none
  const notices = deps.api
    ? createNotices({
        db,
        api: deps.api,
        missionTitle: (id) => screens.missionTitle(id),
        achievementTitle: (id) => screens.achievementTitle(id),
        logger,
      })
    : undefined;
  const payments = notices ? notices.queueing(bus) : bus;
  const ledger = createLedger({
    db,
    bus: payments,
    timezone,
    caps: () => ({ free: rewards().daily_cap_free, vip: rewards().daily_cap_vip }),
  });
  const missions = () => config.get('gamification.missions') as unknown as (typeof MISSIONS)['defaults'];
  const achievements = () => config.get('gamification.achievements') as unknown as (typeof ACHIEVEMENTS)['defaults'];
  const shop = () => config.get('gamification.shop') as unknown as (typeof SHOP)['defaults'];
  const progress = createProgress({ ledger, bus: payments, timezone, missions, achievements });
  const screens = createScreens({ db, timezone, missions, achievements, shop });
  /**
   * The welcome bonus, paid at most once whoever comes first: the `user.registered` handler, or
   * the user's first `/saldo` while that event is still on its way (one source event id, under
   * the balance row's lock), so a new user never reads 0 and then sees 50 appear.
   */
  const payWelcome = async (tx: TransactionSql, user_id: string) => {
    const amount = rewards().welcome_bonus;
    // the award creates the balance row if needed and locks it; with no bonus, the lock does
    if (amount > 0)
      await ledger.award(tx, {
        user_id,
        amount,
        source: 'welcome',
        source_event_id: `welcome:${user_id}`,
        kind: 'gift',
      });
    else await ledger.lock(tx, user_id);
  };

  // ---- event handlers: each in the inbox's transaction, so a redelivery never pays twice ----
  // Every effect of these handlers is in their transaction (statements, outbox publishes, queued
  // notices), so the inbox row goes with COMMIT: a duplicate runs and rolls back whole.
  const once =
    (handle: (event: EventEnvelope, tx: Parameters<Parameters<typeof inbox.process>[2]>[0]) => Promise<void>) =>
    async (event: EventEnvelope) => {
      await inbox.processAtCommit('gamification', event, (tx) => handle(event, tx));
    };
  const subscriptions: ModuleSubscription[] = [
    {
      group: 'gamification',
      types: ['user.registered'],
      handler: once(async (event, tx) => {
        const { user_id } = read(CONSUMED.registered, event);
        await payWelcome(tx, user_id);
      }),
    },
    {
      group: 'gamification',
      types: ['narrative.decision_made'],
      handler: once(async (event, tx) => {
        const { user_id, reward } = read(CONSUMED.decision, event);
        const at = new Date(event.occurred_at);
        if (reward > 0)
          await ledger.award(tx, { user_id, amount: reward, source: 'decision', source_event_id: event.id, at });
        await progress.count(tx, user_id, 'narrative.decision_made', at);
      }),
    },
    {
      group: 'gamification',
      types: ['narrative.fragment_completed'],
      handler: once(async (event, tx) => {
        const { user_id } = read(CONSUMED.fragment, event);
        const amount = rewards().fragment_completed;
        const at = new Date(event.occurred_at);
        if (amount > 0) await ledger.award(tx, { user_id, amount, source: 'fragment', source_event_id: event.id, at });
        await progress.count(tx, user_id, 'narrative.fragment_completed', at);
      }),
    },
    {
      group: 'gamification',
      types: ['narrative.clue_found'],
      handler: once(async (event, tx) => {
        const { user_id, clue } = read(CONSUMED.clue, event);
        await tx`insert into gamification_clues (user_id, clue) values (${user_id}, ${clue}) on conflict do nothing`;
      }),
    },
    {
      group: 'gamification',
      types: ['channel.reaction_added'],
      handler: once(async (event, tx) => {
        const { user_id } = read(CONSUMED.registered, event);
        const r = rewards();
        // the day of the press, not of this handler (a backlog past midnight counts where it belongs)
        const at = new Date(event.occurred_at);
        await ledger.lock(tx, user_id); // concurrent reactions of one user count one at a time
        const [that] = await tx<{ n: number }[]>`
          select count(*)::int as n from besitos_transactions
          where user_id = ${user_id} and source = 'reaction' and day = (${at}::timestamptz at time zone ${timezone})::date`;
        if ((that?.n ?? 0) < r.reactions_paid_per_day && r.reaction > 0)
          await ledger.award(tx, { user_id, amount: r.reaction, source: 'reaction', source_event_id: event.id, at });
        await progress.count(tx, user_id, 'channel.reaction_added', at);
      }),
    },
    {
      group: 'gamification',
      types: ['admin.besitos_granted'],
      handler: once(async (event, tx) => {
        const { user_id, amount, actor, reason } = read(CONSUMED.grant, event);
        // told to the user and kept in their history: one line, no control character (any
        // publisher's reason, as staff typed it)
        const note = cutText(oneLine(reason), 200);
        let applied = amount;
        if (amount > 0)
          await ledger.award(tx, { user_id, amount, source: 'admin', source_event_id: event.id, kind: 'adjust', note });
        else {
          // a negative adjustment takes what is there, never more: balances stay at or above zero
          const take = Math.min(-amount, await ledger.lock(tx, user_id));
          if (take > 0)
            await ledger.spend(tx, { user_id, amount: take, source: 'admin', source_event_id: event.id, note });
          applied = -take;
        }
        // what was actually done, for the admin who asked and the user it was done to (in the
        // same transaction: once per grant)
        await payments.publish(
          'gamification.adjustment_applied',
          { user_id, requested: amount, applied, balance: await ledger.lock(tx, user_id), actor, reason: note },
          { key: user_id, user_id },
        );
      }),
    },
  ];
  if (notices) subscriptions.push(notices.subscription);

  // ---- the bot's side --------------------------------------------------------------------------
  const composer = new Composer<GamificationContext>();
  const steps = createSteps(signer);
  const { go, keyboard } = steps;
  const B = TEXTS.buttons;
  const claimDailyGift = createDailyGift({ db, ledger, timezone, rewards });
  const store = createShop({ db, bus, ledger, progress, signer, limiter: deps.limiter, steps, items: shop });

  const showBalance: Screen = async (ctx, user) => {
    await db.transaction(async (tx) => {
      // only a wallet not opened yet (no balance row: user.registered not handled, nothing paid):
      // a user whose registration was handled while the bonus was 0 has one, and is not paid
      // when an admin raises it later
      const [opened] = await tx`select 1 from gamification_balances where user_id = ${user.id}`;
      if (!opened) await payWelcome(tx, user.id);
    });
    // a balance is read each time it is shown (one read by key), never cached: payments far
    // outnumber the screens that show one, and a copy cost every process a wake-up per payment
    await ctx.reply(TEXTS.balance(formatBesitos(await ledger.balance(user.id))), {
      parse_mode: 'HTML',
      ...keyboard([[go(ctx, 'regalo', B.daily), go(ctx, 'tienda', B.shop)], [go(ctx, 'historial', B.history)]]),
    });
  };
  const claimDaily: Screen = async (ctx, user) => {
    const outcome = await claimDailyGift(user.id);
    const next = keyboard([[go(ctx, 'tienda', B.seeShop), go(ctx, 'misiones', B.missions)]]);
    if (outcome.kind === 'wait')
      await ctx.reply(TEXTS.dailyWait(formatDuration(Math.ceil(outcome.wait_ms / 60_000) * 60_000)), next);
    else if (outcome.kind === 'off') await ctx.reply(TEXTS.dailyOff, next);
    else if (outcome.paid === 0) await ctx.reply(TEXTS.dailyCapped, next);
    else
      await ctx.reply(
        `${TEXTS.dailyPaid(formatBesitos(outcome.paid), outcome.streak)}\n${TEXTS.dailyBalance(formatBesitos(outcome.balance))}\n${TEXTS.storyHint}`,
        {
          parse_mode: 'HTML',
          ...next,
        },
      );
  };
  /** Messages of one screen, its next-step buttons under the last (a long list is several messages). */
  const replyAll = async (ctx: GamificationContext, texts: readonly string[], buttons: ReturnType<typeof keyboard>) => {
    for (const [i, text] of texts.entries())
      await ctx.reply(text, { parse_mode: 'HTML', ...(i === texts.length - 1 ? buttons : {}) });
  };
  const showMissions: Screen = async (ctx, user) =>
    replyAll(
      ctx,
      await screens.missions(user.id),
      keyboard([[go(ctx, 'logros', B.achievements), go(ctx, 'saldo', B.balance)]]),
    );
  const showAchievements: Screen = async (ctx, user) =>
    replyAll(
      ctx,
      await screens.achievements(user.id),
      keyboard([[go(ctx, 'misiones', B.missions), go(ctx, 'saldo', B.balance)]]),
    );
  /** A page of `/historial` (0: the last ten movements), with a button to the one before when there is one. */
  const historyPage = async (ctx: GamificationContext, user: { readonly id: string }, page: number) => {
    const { text, older } = await screens.history(user.id, await ledger.balance(user.id), page);
    const back = {
      text: B.older,
      callback_data: signer.sign(HISTORY_ACTION, [String(page + 1)], { userId: ctx.from?.id }),
    };
    return ctx.reply(text, {
      parse_mode: 'HTML',
      ...keyboard([
        ...(older && page < HISTORY_MAX_PAGE ? [[back]] : []),
        [go(ctx, 'regalo', B.daily), go(ctx, 'tienda', B.shop)],
      ]),
    });
  };
  const showHistory: Screen = (ctx, user) => historyPage(ctx, user, 0);

  const SCREENS: Record<ScreenName, Screen> = {
    saldo: showBalance,
    regalo: claimDaily,
    tienda: store.show,
    mochila: (ctx, user) => store.objects(ctx, user, false),
    misiones: showMissions,
    logros: showAchievements,
    historial: showHistory,
  };
  const command =
    (screen: Screen) =>
    async (ctx: GamificationContext): Promise<void> => {
      if (ctx.user) await screen(ctx, ctx.user);
    };
  composer.command('saldo', command(showBalance));
  composer.command(['regalo', 'daily'], command(claimDaily));
  composer.command('tienda', command(store.show));
  composer.command('misiones', command(showMissions));
  composer.command('logros', command(showAchievements));
  composer.command('historial', command(showHistory));
  // /mochila: the narrative module lists the clues and passes it on; the objects bought here are
  // listed here, and it stops here (nothing else answers /mochila)
  composer.command(
    'mochila',
    command((ctx, user) => store.objects(ctx, user, true)),
  );

  // next-step buttons: the same screens as the commands
  composer.filter(isSignedAction(STEP_ACTION), async (ctx) => {
    const [name = ''] = ctx.signedCallback.args;
    const screen = SCREENS[name as ScreenName];
    await ctx.answerCallbackQuery();
    if (ctx.user && screen) await screen(ctx, ctx.user);
  });

  // /historial's older pages (a page number the signature vouches for; bounded all the same)
  composer.filter(isSignedAction(HISTORY_ACTION), async (ctx) => {
    const page = Number(ctx.signedCallback.args[0]);
    await ctx.answerCallbackQuery();
    if (ctx.user && Number.isSafeInteger(page) && page >= 1 && page <= HISTORY_MAX_PAGE)
      await historyPage(ctx, ctx.user, page);
  });

  // the react button of channel posts: one reaction per user and post
  composer.filter(isSignedAction(REACT_ACTION), async (ctx) => {
    const user = ctx.user;
    const [post_id = ''] = ctx.signedCallback.args;
    if (!post_id) return void (await ctx.answerCallbackQuery());
    // someone who never wrote to the bot: users are registered in their private chat only, so the
    // press counts nothing, and is answered (unanswered, the button spun) with the way to the bot
    if (!user) return void (await ctx.answerCallbackQuery(strangerAnswer(ctx)));
    const answer = await db.transaction(async (tx) => {
      // ...and how many reactions of this user came earlier today: past the ones paid a day, this
      // one is thanked without a promise (the payment itself is the consumer's, counted there)
      const [row] = await tx<{ inserted: number; earlier: number }[]>`
        with inserted as (
          insert into gamification_reactions (user_id, post_id) values (${user.id}, ${post_id})
          on conflict do nothing returning 1)
        select (select count(*) from inserted)::int as inserted,
          (select count(*) from gamification_reactions where user_id = ${user.id}
            and (created_at at time zone ${timezone})::date = (now() at time zone ${timezone})::date)::int as earlier`;
      if (!row?.inserted) return TEXTS.alreadyReacted;
      await bus.publish('channel.reaction_added', { user_id: user.id, post_id }, { key: user.id, user_id: user.id });
      const r = rewards();
      return r.reaction > 0 && row.earlier < r.reactions_paid_per_day ? TEXTS.reacted : TEXTS.reactedUnpaid;
    });
    await ctx.answerCallbackQuery({ text: answer });
  });

  composer.filter(isSignedAction(BUY_ACTION), store.buy);

  logger.debug(
    { timezone, notices: deps.api !== undefined, notice_retention_ms: options.notice_retention_ms },
    'gamification module ready',
  );
  // payment notices past their retention go (without an api none is told, none is kept)
  const pruner = notices ? createNoticePruner(notices.prune, options, logger) : undefined;
  const close = async () => {
    await pruner?.close();
  };
  return {
    name: 'gamification',
    composer,
    subscriptions,
    migrations: GAMIFICATION_MIGRATIONS,
    start: async () => pruner?.start(),
    ledger,
    reactButton: (post_id) => ({ text: TEXTS.reactButton, callback_data: signer.sign(REACT_ACTION, [post_id]) }),
    reactAction: REACT_ACTION,
    async summary(user_id) {
      const [balance, streak_days] = await Promise.all([ledger.balance(user_id), screens.streak(user_id)]);
      return { balance, streak_days };
    },
    itemName: (id) => shop().find((item) => item.id === id)?.name,
    close,
    [Symbol.asyncDispose]: close,
  };
}
