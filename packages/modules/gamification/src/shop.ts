// The shop: items with price and description, what the user owns marked and never sold again,
// one-use buy buttons, and the objects bought (listed in /mochila).
import { randomBytes } from 'node:crypto';
import type { Database, DbSession } from '@diana/db';
import type { EventBusService, EventRegistry } from '@diana/event-bus';
import { type CallbackSigner, html, type RateLimiter, type VerifiedCallback } from '@diana/security';
import { formatBesitos, formatDuration, isDianaError } from '@diana/utils';
import type { GAMIFICATION_EVENTS } from './events.js';
import { LEDGER_ERROR_CODES, type Ledger } from './ledger.js';
import { packMessages } from './messages.js';
import type { createProgress } from './progress.js';
import type { createSteps, GamificationContext, Screen } from './steps.js';
import type { SHOP } from './templates.js';
import { TEXTS } from './texts.js';

type Item = (typeof SHOP.defaults)[number];

/** The signed action of buy buttons: item id, a one-use nonce and the price shown (base 36). */
export const BUY_ACTION = 'gam.b';

/** The price as a buy button carries it: base 36, at most 4 characters up to BESITOS_MAX. */
const priceTag = (price: number) => price.toString(36);

export function createShop(deps: {
  db: Database;
  bus: EventBusService<EventRegistry & typeof GAMIFICATION_EVENTS>;
  ledger: Ledger;
  progress: ReturnType<typeof createProgress>;
  signer: CallbackSigner;
  limiter?: RateLimiter;
  steps: ReturnType<typeof createSteps>;
  items: () => readonly Item[];
}) {
  const { db, bus, ledger, progress, signer, steps } = deps;
  const B = TEXTS.buttons;

  /**
   * What the user already has: bought items, and items whose clue they hold (found or bought).
   * One statement, in the purchase's transaction or on the pool (the shop's screen only shows it).
   */
  const owned = async (session: DbSession, user_id: string, items: readonly Item[]) => {
    const [row] = await session<{ bought: string[]; clues: string[] }[]>`
      select array(select item_id from gamification_inventory where user_id = ${user_id}) as bought,
             array(select clue from gamification_clues where user_id = ${user_id}) as clues`;
    const have = new Set(row?.bought);
    const heldClues = new Set(row?.clues);
    return new Set(items.filter((i) => have.has(i.id) || (i.clue && heldClues.has(i.clue))).map((i) => i.id));
  };

  /** `/tienda`: the balance, each item with price and description, owned ones marked; a buy button each. */
  const show: Screen = async (ctx, user) => {
    const items = deps.items();
    if (items.length === 0) return ctx.reply(TEXTS.shopEmpty);
    // what is owned and the balance, read at once: a screen, no transaction
    const [mine, besitos] = await Promise.all([owned(db.sql, user.id, items), ledger.balance(user.id)]);
    const label = (item: Item, name: string) =>
      mine.has(item.id) ? TEXTS.shopItemOwned(name) : TEXTS.shopItem(name, formatBesitos(item.price));
    const entry = (item: Item) => {
      const head = label(item, html`<b>${item.name}</b>`);
      return item.description ? `${head}\n${html`<i>${item.description}</i>`}` : head;
    };
    const button = (item: Item) => [
      {
        text: label(item, item.name),
        callback_data: signer.sign(BUY_ACTION, [item.id, randomBytes(6).toString('base64url'), priceTag(item.price)], {
          userId: ctx.from?.id,
        }),
      },
    ];
    const head = [TEXTS.shopTitle, TEXTS.shopBalance(formatBesitos(besitos))].join('\n');
    // a long shop is several messages, each with the buttons of its own items (at most
    // SHOP_MAX_ITEMS in all, within a keyboard's 100)
    for (const message of packMessages(head, items, entry, '\n\n'))
      await ctx.reply(message.text, {
        parse_mode: 'HTML',
        reply_markup: { inline_keyboard: message.entries.map(button) },
      });
  };

  /** The objects bought; `quiet`: nothing when there are none (the command, after the narrative's clues). */
  const objects = async (ctx: GamificationContext, user: { readonly id: string }, quiet: boolean) => {
    const rows = await db.sql<{ item_id: string }[]>`
      select item_id from gamification_inventory where user_id = ${user.id} order by acquired_at, item_id`;
    const items = deps.items();
    const names = rows.map((r) => items.find((i) => i.id === r.item_id)?.name ?? r.item_id);
    if (names.length > 0)
      await ctx.reply(`${html`<b>${TEXTS.objectsTitle}</b>`}\n${names.map((n) => html`• ${n}`).join('\n')}`, {
        parse_mode: 'HTML',
      });
    else if (!quiet) await ctx.reply(TEXTS.noObjects);
  };

  /**
   * A buy button: never sold twice, nor to its owner; a double tap charges once; never at another
   * price than the one its screen showed.
   */
  const buy = async (ctx: GamificationContext & { signedCallback: VerifiedCallback }) => {
    const user = ctx.user;
    const [item_id = '', nonce = '', shown = ''] = ctx.signedCallback.args;
    if (!user) return;
    const item = deps.items().find((i) => i.id === item_id);
    if (!item) return void (await ctx.answerCallbackQuery({ text: TEXTS.unknownItem }));
    if (deps.limiter) {
      const limit = await deps.limiter.consume(user.id, 'purchase');
      if (!limit.allowed)
        return void (await ctx.answerCallbackQuery({
          text: TEXTS.wait(formatDuration(Math.ceil(limit.retry_after_ms / 1000) * 1000)),
        }));
    }
    // the price changed since the screen was shown (a button of before this check carries none):
    // nothing is charged, and the shop is shown again with today's prices
    if (shown !== priceTag(item.price)) {
      await ctx.answerCallbackQuery({
        text: TEXTS.priceChanged(item.name, formatBesitos(item.price)),
        show_alert: true,
      });
      return show(ctx, user);
    }
    try {
      const bought = await db.transaction(async (tx) => {
        // never sold twice, nor to someone who found its clue in the story
        await tx`select pg_advisory_xact_lock(hashtext(${`shop:${user.id}`}))`;
        if ((await owned(tx, user.id, [item])).has(item.id)) return 'owned' as const;
        const fresh = await tx`
          insert into gamification_purchases (nonce, user_id, item_id) values (${nonce}, ${user.id}, ${item.id})
          on conflict do nothing returning 1`;
        if (fresh.length === 0) return 'repeated' as const; // a double tap: this button already bought
        const spent = await ledger.spend(tx, {
          user_id: user.id,
          amount: item.price,
          source: `shop:${item.id}`,
          source_event_id: `buy:${nonce}`,
        });
        await tx`insert into gamification_inventory (user_id, item_id) values (${user.id}, ${item.id}) on conflict do nothing`;
        const meta = { key: user.id, user_id: user.id };
        await bus.publish('gamification.item_acquired', { user_id: user.id, item: item.id }, meta);
        if (item.clue) {
          await tx`insert into gamification_clues (user_id, clue) values (${user.id}, ${item.clue}) on conflict do nothing`;
          await bus.publish('gamification.clue_unlocked', { user_id: user.id, clue: item.clue }, meta);
        }
        await progress.count(tx, user.id, 'gamification.item_acquired');
        return { balance: spent.balance };
      });
      if (bought === 'owned')
        return void (await ctx.answerCallbackQuery({ text: TEXTS.alreadyOwned(item.name), show_alert: true }));
      if (bought === 'repeated') return void (await ctx.answerCallbackQuery({ text: TEXTS.alreadyBought }));
      await ctx.answerCallbackQuery({ text: TEXTS.bought(item.name) });
      // what now: the object is in the backpack, the story goes on
      await ctx.reply(`${TEXTS.boughtMessage(html`${item.name}`, formatBesitos(bought.balance))}\n${TEXTS.storyHint}`, {
        parse_mode: 'HTML',
        ...steps.keyboard([[steps.go(ctx, 'mochila', B.backpack), steps.go(ctx, 'tienda', B.shop)]]),
      });
    } catch (error) {
      if (!isDianaError(error, LEDGER_ERROR_CODES.INSUFFICIENT)) throw error;
      const balance = Number((error.context as { balance?: number } | undefined)?.balance ?? 0);
      await ctx.answerCallbackQuery({
        text: TEXTS.notEnough(formatBesitos(item.price), formatBesitos(balance)),
        show_alert: true,
      });
    }
  };

  return { show, objects, buy };
}
