import { defineEvents } from '@diana/event-bus';
import { besitosAdjustment, besitosAmount } from '@diana/utils';
import * as v from 'valibot';

const USER = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const ID = v.pipe(v.string(), v.minLength(1), v.maxLength(64));
// every amount in or out is an integer 1..BESITOS_MAX (one range: commands, events, config)
const AMOUNT = besitosAmount();

/** What the gamification module publishes (through the outbox, with the ledger change). */
export const GAMIFICATION_EVENTS = defineEvents({
  'gamification.besitos_awarded': v.object({ user_id: USER, amount: AMOUNT, source: ID, balance: v.number() }),
  'gamification.besitos_spent': v.object({ user_id: USER, amount: AMOUNT, source: ID, balance: v.number() }),
  /** `reward` as configured; `paid` what the ledger paid (less under the daily cap; absent in older events). */
  'gamification.mission_completed': v.object({
    user_id: USER,
    mission: ID,
    period: ID,
    reward: v.number(),
    paid: v.optional(v.number()),
  }),
  'gamification.achievement_unlocked': v.object({
    user_id: USER,
    achievement: ID,
    reward: v.number(),
    paid: v.optional(v.number()),
  }),
  'gamification.item_acquired': v.object({ user_id: USER, item: ID }),
  'gamification.clue_unlocked': v.object({ user_id: USER, clue: ID }),
  /** An admin's adjustment as it was applied: `applied` may be less than `requested` (balances never go below 0). */
  'gamification.adjustment_applied': v.object({
    user_id: USER,
    requested: v.number(),
    applied: v.number(),
    balance: v.number(),
    actor: v.pipe(v.string(), v.maxLength(128)),
    /** The admin's reason, told to the user (absent in older events). */
    reason: v.optional(v.string()),
  }),
  /** A user pressed a channel post's react button (once per user and post). */
  'channel.reaction_added': v.object({ user_id: USER, post_id: ID }),
});

/** The fields read from events other modules publish (consumer contracts). */
export const CONSUMED = Object.freeze({
  registered: v.object({ user_id: USER }),
  decision: v.object({ user_id: USER, reward: v.union([v.literal(0), besitosAmount()]) }),
  fragment: v.object({ user_id: USER, fragment: ID }),
  grant: v.object({ user_id: USER, amount: besitosAdjustment(), reason: v.string(), actor: v.string() }),
  clue: v.object({ user_id: USER, clue: ID }),
});
