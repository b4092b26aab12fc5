// The economy's numbers, as ConfigManager templates: an admin changes them live.
import { defineTemplate } from '@diana/config';
import { besitosAmount } from '@diana/utils';
import * as v from 'valibot';

const AMOUNT = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100_000));
const ID = v.pipe(v.string(), v.regex(/^[a-z0-9_]{1,40}$/));
/**
 * A shop item's id: at most 24 characters, so that its buy button (action, id, nonce, price,
 * the user's tag and a signature of at least 66 bits) fits Telegram's 64 bytes. A longer one
 * failed every /tienda screen when it was signed.
 */
const ITEM_ID = v.pipe(v.string(), v.regex(/^[a-z0-9_]{1,24}$/));
/**
 * A count of events a mission or an achievement waits for: 1..1 000 000. The counters are
 * `integer` columns, compared in SQL: a threshold past 2^31 − 1 (a valid JSON number) made every
 * event it counts fail its handler and go to the dead letters, its payment with it.
 */
const COUNT = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1_000_000));
/**
 * The most entries a list may hold. Its screen packs them into messages of Telegram's 4 096
 * characters; the shop's buy buttons (one per item) stay within a keyboard's 100. A list without a
 * maximum (120 items) made /tienda a message Telegram refused, for every user.
 */
export const SHOP_MAX_ITEMS = 50;
export const MISSIONS_MAX = 50;
export const ACHIEVEMENTS_MAX = 50;
/**
 * Each id of a list once: the module finds an entry, and keeps its progress, by id, so a second
 * entry with the same id could never be bought (its button met the first one's price) and shared
 * the first one's counters. The issue names the repeated entry's `id` (path `1.id`, received
 * `"rosa"`) and, in its message, the entry it repeats.
 */
const uniqueIds = <T extends { readonly id: string }>() =>
  v.rawCheck<T[]>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const first = new Map<string, number>();
    for (const [i, entry] of dataset.value.entries()) {
      const seen = first.get(entry.id);
      if (seen === undefined) first.set(entry.id, i);
      else
        addIssue({
          message: `duplicate id "${entry.id}" (entry ${seen} has it)`,
          received: JSON.stringify(entry.id),
          path: [
            { type: 'array', origin: 'value', input: dataset.value, key: i, value: entry },
            { type: 'object', origin: 'value', input: entry, key: 'id', value: entry.id },
          ],
        });
    }
  });

export const REWARDS = defineTemplate('gamification.rewards', {
  type: 'setting',
  schema: v.object({
    welcome_bonus: AMOUNT,
    daily_gift: AMOUNT,
    /** Extra per consecutive day, up to `streak_bonus_max`. */
    streak_bonus: AMOUNT,
    streak_bonus_max: AMOUNT,
    reaction: AMOUNT,
    reactions_paid_per_day: AMOUNT,
    fragment_completed: AMOUNT,
    daily_cap_free: AMOUNT,
    daily_cap_vip: AMOUNT,
  }),
  defaults: {
    welcome_bonus: 50,
    daily_gift: 10,
    streak_bonus: 2,
    streak_bonus_max: 10,
    reaction: 2,
    reactions_paid_per_day: 3,
    fragment_completed: 1,
    daily_cap_free: 200,
    daily_cap_vip: 500,
  },
  description: 'Besitos paid for each activity, and the daily earning caps',
});

export const MISSIONS = defineTemplate('gamification.missions', {
  type: 'mission_chain',
  schema: v.pipe(
    v.array(
      v.object({
        id: ID,
        title: v.pipe(v.string(), v.minLength(1), v.maxLength(80)),
        kind: v.picklist(['daily', 'weekly', 'narrative', 'special']),
        event: v.picklist([
          'channel.reaction_added',
          'narrative.decision_made',
          'narrative.fragment_completed',
          'gamification.item_acquired',
        ]),
        target: COUNT,
        reward: AMOUNT,
      }),
    ),
    v.maxLength(MISSIONS_MAX),
    uniqueIds(),
  ),
  defaults: [
    {
      id: 'reacciona_3',
      title: 'Reacciona a 3 publicaciones',
      kind: 'daily',
      event: 'channel.reaction_added',
      target: 3,
      reward: 20,
    },
    {
      id: 'decide_5',
      title: 'Toma 5 decisiones',
      kind: 'weekly',
      event: 'narrative.decision_made',
      target: 5,
      reward: 50,
    },
  ],
  description: 'Missions: progress counted from events, paid once per period',
});

export const ACHIEVEMENTS = defineTemplate('gamification.achievements', {
  type: 'setting',
  schema: v.pipe(
    v.array(
      v.object({
        id: ID,
        title: v.pipe(v.string(), v.minLength(1), v.maxLength(80)),
        event: v.picklist([
          'channel.reaction_added',
          'narrative.decision_made',
          'narrative.fragment_completed',
          'gamification.item_acquired',
        ]),
        threshold: COUNT,
        reward: AMOUNT,
      }),
    ),
    v.maxLength(ACHIEVEMENTS_MAX),
    uniqueIds(),
  ),
  defaults: [
    { id: 'primera_decision', title: 'Primera decisión', event: 'narrative.decision_made', threshold: 1, reward: 50 },
    { id: 'fan', title: 'Fan de la casa: 10 reacciones', event: 'channel.reaction_added', threshold: 10, reward: 100 },
  ],
  description: 'Achievements: unlocked once when a lifetime counter reaches its threshold',
});

export const SHOP = defineTemplate('gamification.shop', {
  type: 'setting',
  schema: v.pipe(
    v.array(
      v.object({
        id: ITEM_ID,
        name: v.pipe(v.string(), v.minLength(1), v.maxLength(40)),
        /** 1..BESITOS_MAX, the range of every amount (an unbounded price overflowed the ledger). */
        price: besitosAmount(),
        /** One or two lines the shop shows under the name. */
        description: v.optional(v.pipe(v.string(), v.maxLength(200))),
        /** Buying it also unlocks this narrative clue. */
        clue: v.optional(ID),
      }),
    ),
    v.maxLength(SHOP_MAX_ITEMS),
    uniqueIds(),
  ),
  defaults: [
    {
      id: 'rosa_negra',
      name: 'Rosa negra',
      price: 30,
      description: 'Una rosa de terciopelo oscuro: Diana sabrá que piensas en ella.',
    },
    {
      id: 'llave_dorada',
      name: 'Llave dorada',
      price: 120,
      description: 'Abre una puerta de la historia que sigue cerrada.',
      clue: 'llave_dorada',
    },
  ],
  description: 'Items for sale in /tienda',
});

/** Every template the module needs the ConfigManager to hold. */
export const GAMIFICATION_TEMPLATES = [REWARDS, MISSIONS, ACHIEVEMENTS, SHOP] as const;
