/** Codes of the errors this package raises. */
export const NARRATIVE_ERROR_CODES = Object.freeze({
  /** The story file failed its schema or its links (`issues` lists each problem with its path). */
  STORY_INVALID: 'E_NARRATIVE_STORY_INVALID',
  /** The module was used before `start()` loaded the story. */
  NOT_STARTED: 'E_NARRATIVE_NOT_STARTED',
} as const);

/** A code of `NARRATIVE_ERROR_CODES`. */
export type NarrativeErrorCode = (typeof NARRATIVE_ERROR_CODES)[keyof typeof NARRATIVE_ERROR_CODES];
