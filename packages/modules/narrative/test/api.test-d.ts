// The public API of @diana/narrative, pinned: a value export added, renamed or removed fails this type
// test until the list changes with it (the README's API section follows it: pnpm lint checks).
import { describe, expectTypeOf, it } from 'vitest';
import type * as api from '../src/index.js';

describe('@diana/narrative public API', () => {
  it('exports exactly these values', () => {
    expectTypeOf<keyof typeof api>().toEqualTypeOf<
      | 'DEFAULT_STORY_FILE'
      | 'DIANA_SLICE'
      | 'NARRATIVE_ERROR_CODES'
      | 'NARRATIVE_EVENTS'
      | 'NARRATIVE_SLICE'
      | 'NARRATIVE_SLICES'
      | 'STORY_INVALID'
      | 'StoryFile'
      | 'TEXTS'
      | 'createNarrativeModule'
      | 'evaluate'
      | 'loadDefaultStory'
      | 'loadStory'
    >();
  });
});
