import { defineEvents } from '@diana/event-bus';
import * as v from 'valibot';

const USER = v.pipe(v.string(), v.minLength(1), v.maxLength(128));

/** Core events the app publishes (DOMAIN.md). */
export const CORE_EVENTS = defineEvents({
  /** A user's first /start (first sight): through the outbox with the new `users` row. */
  'user.registered': v.object({ user_id: USER, telegram_id: v.number(), language_code: v.nullable(v.string()) }),
  'user.activity': v.object({ user_id: USER }),
});
