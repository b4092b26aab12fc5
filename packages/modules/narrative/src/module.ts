// The narrative module: the story's commands and buttons, its replies, and the subscriptions that
// start a user's story. The decision itself is pure (decide.ts); the screens are texts.ts. Over
// 300 lines because the handlers share one closure of deps (state, documents, signer, story).
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import type { Database, DocumentStore } from '@diana/db';
import {
  createInbox,
  type DianaModule,
  type EventBusService,
  type EventEnvelope,
  type EventRegistry,
  type ModuleSubscription,
} from '@diana/event-bus';
import { atLeast, type CallbackSigner, TELEGRAM_LIMITS } from '@diana/security';
import { isSignedAction, type ModuleContext, type ModuleFlavor } from '@diana/security/grammy';
import type { UserStateManager } from '@diana/user-state';
import { DianaError, getPackageLogger, type Logger } from '@diana/utils';
import { Composer, GrammyError } from 'grammy';
import type { InlineKeyboardButton } from 'grammy/types';
import * as v from 'valibot';
import { type Evaluation, evaluate, factsNeeded } from './conditions.js';
import { applyDecision, type Decided } from './decide.js';
import { NARRATIVE_ERROR_CODES } from './errors.js';
import { CONSUMED, type NARRATIVE_EVENTS } from './events.js';
import { FILES } from './files.js';
import { backpackMessages, endingOf, freeEndText, isLast, lockedText, messageText, type Prefix } from './render.js';
import type { DianaMood, NARRATIVE_SLICES, NarrativeProgress } from './slices.js';
import { type Condition, type Fragment, loadDefaultStory, loadStory, type Story } from './story.js';
import { TEXTS } from './texts.js';

/** The user the app resolved for this update (`users` row, its id keys the slices): the shared module flavor. */
export type NarrativeFlavor = ModuleFlavor;
/** The context the module's handlers run with. */
export type NarrativeContext = ModuleContext;

/** What the narrative module needs. */
export interface NarrativeDeps {
  readonly db: Database;
  /** Created with the same `db`: events published inside a transaction join it (outbox). */
  readonly bus: EventBusService<EventRegistry & typeof NARRATIVE_EVENTS>;
  /** Must hold `NARRATIVE_SLICES`. */
  readonly state: UserStateManager<typeof NARRATIVE_SLICES>;
  readonly documents: DocumentStore;
  readonly signer: CallbackSigner;
  /** Besitos of a user, for `besitos_at_least` conditions (the app asks the ledger). */
  readonly getBalance?: (user_id: string) => Promise<number>;
  /**
   * The user's role right now, for VIP levels and role conditions. Defaults to reading
   * `users.role` (its one home): `ctx.user.role` may be a cached copy from before an expiry
   * or a revocation.
   */
  readonly getRole?: (user_id: string) => Promise<string | undefined>;
  /** An object's name as the shop shows it (the app asks gamification); the story's key when absent. */
  readonly itemTitle?: (key: string) => string | undefined;
  /**
   * A button that runs another module's command for the user (`tienda`, `regalo`, `menu`), so a
   * lock or the end of the story offers the way on. Without it those ways are named in the text only.
   */
  readonly commandButton?: (text: string, command: string, telegramId: number | undefined) => InlineKeyboardButton;
  readonly logger?: Logger;
}

/** The module as the app composes it. */
export interface NarrativeModule extends DianaModule<Composer<NarrativeContext>> {
  /** Validates and serves the story file; publishes its fragments to the DocumentStore. */
  start(): Promise<void>;
  /** The story being served (after `start`). */
  story(): Story;
}

/** Where the story shipped with the package lives; the build also embeds it (bundle-safe). */
export const DEFAULT_STORY_FILE = pathToFileURL(FILES.path('story/historia.json'));
const COLLECTION = 'narrative_fragments';
const clamp = (n: number) => Math.max(0, Math.min(100, n));

/** The story module: fragments, decisions, unlocks and the backpack over the core. */
export function createNarrativeModule(
  config: {
    story_file?: URL | string;
    /** Where a user refused at a VIP level can become VIP (a URL button under the refusal). */
    vip_offer_url?: string;
  },
  deps: NarrativeDeps,
): NarrativeModule {
  const logger = getPackageLogger(deps.logger, 'narrative');
  const { db, bus, state, signer } = deps;
  const inbox = createInbox(db);
  let story: Story | undefined;
  const current = (): Story => {
    if (!story) throw new DianaError(NARRATIVE_ERROR_CODES.NOT_STARTED, 'the narrative module is not started');
    return story;
  };

  /** A fragment's buttons (its text is `messageText`'s); `ending` the buttons of the end that closes it. */
  const buttons = (fragment: Fragment, telegramId: number | undefined, ending: InlineKeyboardButton[][] = []) => {
    const rows: InlineKeyboardButton[][] = fragment.decisions.map((d) => [
      { text: d.label, callback_data: signer.sign('nar.d', [fragment.key, d.id], { userId: telegramId }) },
    ]);
    if (fragment.kind === 'story' && fragment.next)
      rows.push([
        { text: TEXTS.continue, callback_data: signer.sign('nar.n', [fragment.key], { userId: telegramId }) },
      ]);
    rows.push(...ending);
    return { parse_mode: 'HTML' as const, reply_markup: { inline_keyboard: rows } };
  };
  const commandRow = (text: string, command: string, telegramId: number | undefined) => {
    const button = deps.commandButton?.(text, command, telegramId);
    return button ? [[button]] : [];
  };
  const vipOfferRows = (): InlineKeyboardButton[][] =>
    config.vip_offer_url ? [[{ text: TEXTS.vipButton, url: config.vip_offer_url }]] : [];
  /** What a reader who is not VIP reads where the free story ends: what VIP opens and how to get it. */
  const freeEnd = () => freeEndText(current().levels, config.vip_offer_url !== undefined);

  const roleOf =
    deps.getRole ??
    (async (user_id: string) => {
      const [row] = await db.sql<{ role: string }[]>`select role from users where id = ${user_id}`;
      return row?.role;
    });
  /** A fragment's gate: its own unlock condition and, on a VIP level, current VIP status. */
  const gateOf = (fragment: Fragment): Condition | undefined => {
    if (current().levels.get(fragment.level)?.vip !== true) return fragment.unlock;
    return fragment.unlock ? { all: [{ vip: true }, fragment.unlock] } : { vip: true };
  };
  /** What staying on a fragment needs: VIP status on a VIP level (its unlock was met on the way in). */
  const holdOf = (fragment: Fragment): Condition | undefined =>
    current().levels.get(fragment.level)?.vip === true ? { vip: true } : undefined;
  /**
   * Where a reader whose fragment the story no longer has (a new story version removed or
   * renamed it, or a newer process moved them onto one this process does not know) goes on: the
   * last fragment they completed that the story still has, else its start. Its decisions pay no
   * second time (see `advance`).
   */
  const recoverFrom = (progress: NarrativeProgress): string => {
    const s = current();
    return [...progress.completed].reverse().find((key) => s.fragments.has(key)) ?? s.start;
  };
  /** The facts `gates` are evaluated against; the role and the besitos are read only when one of them looks at them. */
  const facts = async (ctx: NarrativeContext, progress: NarrativeProgress, gates: Array<Condition | undefined>) => {
    const needed = factsNeeded(...gates);
    const user = ctx.user;
    return {
      // read now, never from the app's cached row: a VIP level closes the moment VIP status ends
      // (a role no gate looks at is not read: FREE stands in, unread)
      role: (needed.role && user ? await roleOf(user.id) : undefined) ?? 'FREE',
      progress,
      besitos: needed.besitos && deps.getBalance && user ? await deps.getBalance(user.id) : undefined,
      clueTitle: (key: string) => current().clues.get(key)?.title,
      itemTitle: (key: string) => deps.itemTitle?.(key),
    };
  };

  // the message's text is messageText's, which loading a story measures (≤ 4 096 once parsed)
  const show = async (ctx: NarrativeContext, fragment: Fragment, prefix?: Prefix) => {
    const tg = ctx.from?.id;
    let ending: { text: string; rows: InlineKeyboardButton[][] } | undefined;
    if (isLast(fragment)) {
      // the last fragment a reader can reach: if VIP levels lie beyond it and they are not VIP, the offer
      const role = (ctx.user ? await roleOf(ctx.user.id) : undefined) ?? 'FREE';
      ending =
        endingOf(fragment, current().levels, atLeast(role, 'VIP')) === 'offer'
          ? { text: freeEnd(), rows: vipOfferRows() }
          : { text: TEXTS.theEnd, rows: commandRow(TEXTS.menuButton, 'menu', tg) };
    }
    // the fragment's picture first, without a caption (a caption is capped at 1 024 characters, a
    // fragment's text is not): the text and its buttons follow as the last message, as without media
    if (fragment.media)
      try {
        await ctx.replyWithPhoto(fragment.media);
      } catch (error) {
        // Telegram refused the picture (a URL it cannot fetch or that is not an image, another
        // bot's file_id): the reader gets the text and buttons without it, and the operator a line.
        // Before, the failure ended the update, and the reader was stuck at that fragment
        if (!(error instanceof GrammyError && error.error_code === 400)) throw error;
        logger.warn(
          { fragment: fragment.key, media: fragment.media, description: error.description },
          "a fragment's media was refused by Telegram; its text was sent alone",
        );
      }
    await ctx.reply(messageText(fragment, ending?.text, prefix), buttons(fragment, tg, ending?.rows));
  };
  /**
   * What is missing and where to get it, with a button for each way (VIP offer, shop, daily
   * gift) and one back to the story when the reader's own fragment is still open (`storyGoesOn`).
   * Where the free levels end (`freeEnd`), what VIP opens and how to get it instead.
   */
  const explainLocked = (
    ctx: NarrativeContext,
    check: Evaluation,
    options: { storyGoesOn: boolean; freeEnd?: boolean },
  ) => {
    const tg = ctx.from?.id;
    const vip = check.ways.includes('vip');
    // loading the story measured this with every condition missing (a shop's object names,
    // unknown then, are the one thing that can make it longer: cut rather than refused)
    const full = options.freeEnd ? freeEnd() : lockedText(check.missing, vip);
    const text =
      full.length > TELEGRAM_LIMITS.message_text ? `${full.slice(0, TELEGRAM_LIMITS.message_text - 1)}…` : full;
    const shortcuts = [
      ...(check.ways.includes('shop') ? commandRow(TEXTS.shopButton, 'tienda', tg) : []),
      ...(check.ways.includes('besitos') ? commandRow(TEXTS.giftButton, 'regalo', tg) : []),
    ].flat();
    const rows: InlineKeyboardButton[][] = [
      ...(vip ? vipOfferRows() : []),
      ...(shortcuts.length > 0 ? [shortcuts] : []),
      // where the free levels end the reader's own fragment leads back to this door: no way round
      ...(options.storyGoesOn && !options.freeEnd
        ? [[{ text: TEXTS.storyButton, callback_data: signer.sign('nar.h', [], { userId: tg }) }]]
        : commandRow(TEXTS.menuButton, 'menu', tg)),
    ];
    return ctx.reply(text, rows.length > 0 ? { reply_markup: { inline_keyboard: rows } } : {});
  };

  /** /start and /historia: begin the story or show where the user is. */
  const open = async (ctx: NarrativeContext) => {
    const user = ctx.user;
    if (!user) return;
    const s = current();
    let started = false;
    // A reader already in the story only sees where they are: their progress as read (the
    // cache), with no transaction. An update that writes nothing still reads the row again inside
    // one, which cost a returning reader's /start two PostgreSQL round trips for nothing. No handler
    // sets `current` back to null, so only a reader not yet begun goes on to the transaction. On
    // the user's first update there is nothing to read: straight to it.
    const seen = ctx.firstContact ? undefined : await state.get(user.id, 'narrative');
    // the progress as this update left it (committed with the transaction): no second read
    const progress =
      seen && seen.current !== null
        ? seen
        : await db.transaction(async () => {
            const after = await state.update(user.id, 'narrative', (p) => {
              started = p.current === null;
              return started ? { ...p, current: s.start } : p;
            });
            if (started) {
              const first = s.fragments.get(s.start) as Fragment;
              await bus.publish(
                'narrative.fragment_started',
                { user_id: user.id, fragment: first.key, level: first.level },
                { key: user.id, user_id: user.id },
              );
            }
            return after;
          });
    let place = progress;
    let moved = false;
    if (!s.fragments.has(progress.current ?? s.start)) {
      // before: a TypeError on every /start and /historia for good ("Algo salió mal")
      place = await db.transaction(() =>
        state.update(user.id, 'narrative', (p) => {
          if (p.current === null || s.fragments.has(p.current)) return p;
          moved = true;
          return { ...p, current: recoverFrom(p) };
        }),
      );
      if (moved)
        logger.warn(
          { user_id: user.id, missing: progress.current, now: place.current },
          'reader moved: the story no longer has their fragment',
        );
    }
    const fragment = s.fragments.get(place.current ?? s.start) as Fragment;
    // staying where they are needs only what staying needs (VIP on a VIP level): the door they
    // came through is not asked again
    const hold = holdOf(fragment);
    const check = evaluate(hold, await facts(ctx, place, [hold]));
    if (!check.ok) return explainLocked(ctx, check, { storyGoesOn: false });
    await show(ctx, fragment, started ? TEXTS.welcome : moved ? TEXTS.storyChanged : TEXTS.resume);
  };

  /** A decision (or "continue") on fragment `from`: applied once, atomically with its events. */
  const advance = async (ctx: NarrativeContext, from: string, decisionId: string | undefined) => {
    const user = ctx.user;
    if (!user) return;
    const s = current();
    const fragment = s.fragments.get(from);
    const decision = decisionId === undefined ? undefined : fragment?.decisions.find((d) => d.id === decisionId);
    const targetKey = decisionId === undefined ? fragment?.next : decision?.next;
    const target = targetKey === undefined ? undefined : s.fragments.get(targetKey);
    if (!fragment || !target || (decisionId !== undefined && !decision)) {
      await ctx.answerCallbackQuery({ text: TEXTS.stale });
      // a button the story as it is now does not have (its fragment, decision or target gone, or
      // the fragment's kind changed): where the reader goes on, shown. Before, only a missing
      // fragment showed it; a reader still on a fragment whose decision was renamed got nothing.
      await open(ctx);
      return;
    }
    const before = await state.get(user.id, 'narrative');
    const known = await facts(ctx, before, [holdOf(fragment), gateOf(target)]);
    // the decision is decided inside the state update (on the progress it will replace)
    const result: { decided: Decided; again: boolean; first: boolean } = {
      decided: { kind: 'stale' },
      again: false,
      first: false,
    };
    await db.transaction(async () => {
      await state.update(user.id, 'narrative', (p) => {
        result.decided = applyDecision(p, { fragment, target, decision, gateOf, holdOf, facts: known });
        // a fragment decided before (a reader moved back by a story change): no second reward
        result.again = p.decisions[fragment.key] !== undefined;
        // a fragment counts as completed once per reader: a loop in the story, or a reader moved
        // back by a story change, completes it again without its completion being paid again
        result.first = !p.completed.includes(fragment.key);
        return result.decided.kind === 'applied' ? result.decided.next : p;
      });
      const decided = result.decided;
      if (decided.kind !== 'applied') return;
      const mood = decision?.consequences.mood ?? {};
      if (Object.keys(mood).length > 0)
        await state.update(user.id, 'diana', (m: DianaMood) => ({
          interest: clamp(m.interest + (mood.interest ?? 0)),
          trust: clamp(m.trust + (mood.trust ?? 0)),
          vulnerability: clamp(m.vulnerability + (mood.vulnerability ?? 0)),
        }));
      const meta = { key: user.id, user_id: user.id };
      if (decision)
        await bus.publish(
          'narrative.decision_made',
          {
            user_id: user.id,
            fragment: from,
            decision: decision.id,
            level: fragment.level,
            reward: result.again ? 0 : decision.consequences.reward,
          },
          meta,
        );
      if (result.first)
        await bus.publish(
          'narrative.fragment_completed',
          { user_id: user.id, fragment: from, level: fragment.level },
          meta,
        );
      if (result.first && target.level > fragment.level)
        await bus.publish('narrative.level_completed', { user_id: user.id, level: fragment.level }, meta);
      for (const clue of decided.found) await bus.publish('narrative.clue_found', { user_id: user.id, clue }, meta);
      await bus.publish(
        'narrative.fragment_started',
        { user_id: user.id, fragment: target.key, level: target.level },
        meta,
      );
    });
    const outcome = result.decided;
    if (outcome.kind === 'applied') {
      await ctx.answerCallbackQuery();
      await show(ctx, target);
    } else if (outcome.kind === 'locked') {
      // the reader's own fragment stays open unless it is the one refused (a former VIP on a VIP fragment)
      const ownOpen = evaluate(holdOf(fragment), { ...known, progress: before }).ok;
      const levels = current().levels;
      const freeEnd =
        ownOpen &&
        outcome.check.ways.includes('vip') &&
        levels.get(target.level)?.vip === true &&
        levels.get(fragment.level)?.vip !== true;
      await ctx.answerCallbackQuery(freeEnd ? {} : { text: TEXTS.lockedNotice });
      await explainLocked(ctx, outcome.check, { storyGoesOn: ownOpen, freeEnd });
    } else await ctx.answerCallbackQuery({ text: TEXTS.stale });
  };

  const composer = new Composer<NarrativeContext>();
  composer.command('start', async (ctx, next) => {
    // deep-link payloads belong to other modules (e.g. vip_<token>)
    if (typeof ctx.match === 'string' && ctx.match.length > 0) return next();
    await open(ctx);
  });
  composer.command('historia', open);
  composer.command('mochila', async (ctx, next) => {
    if (!ctx.user) return;
    const { clues, items } = await state.get(ctx.user.id, 'narrative');
    const known = clues.map((key) => current().clues.get(key)).filter((c) => c !== undefined);
    if (known.length > 0) {
      for (const message of backpackMessages(known)) await ctx.reply(message, { parse_mode: 'HTML' });
    } else if (items.length === 0) await ctx.reply(TEXTS.backpackEmpty);
    // the objects bought in the shop are the shop's to list (gamification answers /mochila too)
    await next();
  });
  composer.filter(isSignedAction('nar.d'), async (ctx) => {
    const [from = '', decision = ''] = ctx.signedCallback.args;
    await advance(ctx, from, decision);
  });
  composer.filter(isSignedAction('nar.n'), async (ctx) => {
    const [from = ''] = ctx.signedCallback.args;
    await advance(ctx, from, undefined);
  });
  // "Seguir la historia" under a lock: the reader's fragment again, with its choices
  composer.filter(isSignedAction('nar.h'), async (ctx) => {
    await open(ctx);
    await ctx.answerCallbackQuery();
  });

  const remember =
    (field: 'clues' | 'items', group: string, schema: typeof CONSUMED.item | typeof CONSUMED.clue) =>
    async (event: EventEnvelope) => {
      const payload = v.parse(schema, event.payload) as { user_id: string; item?: string; clue?: string };
      const key = (payload.item ?? payload.clue) as string;
      await state.update(payload.user_id, 'narrative', (p) =>
        p[field].includes(key) ? p : { ...p, [field]: [...p[field], key] },
      );
      logger.debug({ user_id: payload.user_id, [field]: key, group }, 'narrative backpack updated');
    };

  const subscriptions: ModuleSubscription[] = [
    {
      group: 'narrative',
      types: ['gamification.item_acquired'],
      handler: remember('items', 'narrative', CONSUMED.item),
    },
    {
      group: 'narrative',
      types: ['gamification.clue_unlocked'],
      handler: remember('clues', 'narrative', CONSUMED.clue),
    },
    {
      group: 'narrative',
      types: ['admin.subscription_started'],
      handler: async (event) => {
        const { user_id } = v.parse(CONSUMED.subscription, event.payload);
        // VIP levels open now (evaluated on every read); say so once per subscription event
        // only publishes (outbox, in the transaction): the inbox row goes with COMMIT
        await inbox.processAtCommit('narrative', event, async () => {
          for (const [level, info] of current().levels)
            if (info.vip)
              await bus.publish('narrative.content_unlocked', { user_id, level }, { key: user_id, user_id });
        });
      },
    },
  ];

  /**
   * Writes the story's fragments to the DocumentStore (`narrative_fragments`), those that differ
   * from the stored copy: for readers outside the bot; the module itself never reads them.
   */
  const publish = async (parsed: Story) => {
    const stored = await deps.documents.find(COLLECTION, { limit: 10_000 });
    const before = new Map(stored.map((d) => [d.id, d.data]));
    for (const fragment of parsed.fragments.values()) {
      // compared as JSON values, whatever the key order: jsonb keeps keys in its own order, so a
      // comparison of texts found every fragment changed and rewrote it at each start
      const data = JSON.parse(JSON.stringify(fragment)) as Record<string, unknown>;
      if (!isDeepStrictEqual(before.get(fragment.key), data))
        await deps.documents.put(COLLECTION, { id: fragment.key, data });
    }
  };
  const close = async () => {};
  return {
    name: 'narrative',
    composer,
    subscriptions,
    async start() {
      const parsed = config.story_file
        ? loadStory(JSON.parse(readFileSync(config.story_file, 'utf8')))
        : loadDefaultStory();
      // The process serves the story it validated, never what it reads back: during a rolling
      // deploy another process (an older or newer version) writes its own fragments to the same
      // store at the same time. The store's copy is a publication for readers outside the bot.
      await publish(parsed);
      story = parsed;
      logger.info({ fragments: story.fragments.size }, 'story loaded');
    },
    story: current,
    close,
    [Symbol.asyncDispose]: close,
  };
}
