import { defineEvents } from '@diana/event-bus';
import * as v from 'valibot';

/**
 * `user.state_changed`: which slice of which user changed, and to which version — never the
 * value (read it with `get`). Merge into the app's registry with `mergeEvents`.
 */
export const USER_STATE_EVENTS = defineEvents({
  'user.state_changed': v.object({
    user_id: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
    slice: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
    version: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
  }),
});
