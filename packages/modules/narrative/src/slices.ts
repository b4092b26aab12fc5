import { defineSlice } from '@diana/user-state';
import * as v from 'valibot';

const KEYS = v.array(v.pipe(v.string(), v.maxLength(40)));

/** Per-user progress, its one home: current fragment, what was completed and decided, flags, variables, the backpack. */
export const NARRATIVE_SLICE = defineSlice('narrative', {
  schema: v.object({
    current: v.nullable(v.string()),
    completed: KEYS,
    decisions: v.record(v.string(), v.string()),
    flags: KEYS,
    variables: v.record(v.string(), v.number()),
    clues: KEYS,
    items: KEYS,
  }),
  initial: { current: null, completed: [], decisions: {}, flags: [], variables: {}, clues: [], items: [] },
  persist: true,
});

const LEVEL = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(100));
/** Diana's mood toward the user (0–100 each); the only place trust lives. */
export const DIANA_SLICE = defineSlice('diana', {
  schema: v.object({ interest: LEVEL, trust: LEVEL, vulnerability: LEVEL }),
  initial: { interest: 10, trust: 10, vulnerability: 0 },
  persist: true,
});

/** The slices the app must give the user-state manager. */
export const NARRATIVE_SLICES = [NARRATIVE_SLICE, DIANA_SLICE] as const;
/** The narrative slice's value. */
export type NarrativeProgress = v.InferOutput<typeof NARRATIVE_SLICE.schema>;
/** The diana slice's value. */
export type DianaMood = v.InferOutput<typeof DIANA_SLICE.schema>;
