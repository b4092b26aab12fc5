// Conditions
export type { ConditionFacts, Evaluation, Way } from './conditions.js';
export { evaluate } from './conditions.js';
// Events
export type { NarrativeErrorCode } from './errors.js';
export { NARRATIVE_ERROR_CODES } from './errors.js';
export { NARRATIVE_EVENTS } from './events.js';
export type {
  NarrativeContext,
  NarrativeDeps,
  NarrativeFlavor,
  NarrativeModule,
} from './module.js';
// The module
export { createNarrativeModule, DEFAULT_STORY_FILE } from './module.js';
export type { DianaMood, NarrativeProgress } from './slices.js';
// Slices
export { DIANA_SLICE, NARRATIVE_SLICE, NARRATIVE_SLICES } from './slices.js';
export type { Condition, Decision, Fragment, Story } from './story.js';
// Story
export { loadDefaultStory, loadStory, STORY_INVALID, StoryFile } from './story.js';
export { TEXTS } from './texts.js';
