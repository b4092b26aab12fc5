// @diana/narrative: the story of Lucien and Diana — fragments, decisions, conditions, progress.

// The module
export type {
  NarrativeContext,
  NarrativeDeps,
  NarrativeFlavor,
  NarrativeModule,
} from './module.js';
export { createNarrativeModule, DEFAULT_STORY_FILE } from './module.js';

// Story
export type { Condition, Decision, Fragment, Story } from './story.js';
export { loadDefaultStory, loadStory, STORY_INVALID, StoryFile } from './story.js';

// Conditions
export type { ConditionFacts, Evaluation, Way } from './conditions.js';
export { evaluate } from './conditions.js';

// Slices
export type { DianaMood, NarrativeProgress } from './slices.js';
export { DIANA_SLICE, NARRATIVE_SLICE, NARRATIVE_SLICES } from './slices.js';

// Events and texts
export { NARRATIVE_EVENTS } from './events.js';
export { TEXTS } from './texts.js';

// Errors
export type { NarrativeErrorCode } from './errors.js';
export { NARRATIVE_ERROR_CODES } from './errors.js';
