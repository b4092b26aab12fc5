import { defineEvents } from '@diana/event-bus';
import * as v from 'valibot';

const USER = v.pipe(v.string(), v.minLength(1), v.maxLength(128));
const KEY = v.pipe(v.string(), v.maxLength(40));
const LEVEL = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(6));

/** What the narrative module publishes (always through the outbox, with the progress change). */
export const NARRATIVE_EVENTS = defineEvents({
  'narrative.fragment_started': v.object({ user_id: USER, fragment: KEY, level: LEVEL }),
  'narrative.decision_made': v.object({
    user_id: USER,
    fragment: KEY,
    decision: KEY,
    level: LEVEL,
    /** Besitos the decision pays (gamification pays them once per event). */
    reward: v.pipe(v.number(), v.integer(), v.minValue(0)),
  }),
  'narrative.fragment_completed': v.object({ user_id: USER, fragment: KEY, level: LEVEL }),
  'narrative.level_completed': v.object({ user_id: USER, level: LEVEL }),
  /** A decision gave the user a clue they did not have (other modules stop selling it). */
  'narrative.clue_found': v.object({ user_id: USER, clue: KEY }),
  'narrative.content_unlocked': v.object({ user_id: USER, level: LEVEL }),
});

/** The fields the module reads from events other modules publish (consumer contracts). */
export const CONSUMED = Object.freeze({
  subscription: v.object({ user_id: USER }),
  item: v.object({ user_id: USER, item: KEY }),
  clue: v.object({ user_id: USER, clue: KEY }),
});
