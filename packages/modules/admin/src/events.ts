import { defineEvents } from '@diana/event-bus';
import { besitosAdjustment } from '@diana/utils';
import * as v from 'valibot';

const USER = v.pipe(v.string(), v.minLength(1), v.maxLength(128));

/** What the admin module publishes (through the outbox, with the change it announces). */
export const ADMIN_EVENTS = defineEvents({
  'admin.subscription_started': v.object({ user_id: USER, tariff: v.string(), ends_at: v.string() }),
  'admin.subscription_expiring': v.object({ user_id: USER, ends_at: v.string(), notice: v.picklist(['7d', '24h']) }),
  'admin.subscription_expired': v.object({ user_id: USER }),
  'admin.post_published': v.object({ post_id: v.string(), channel_id: v.string(), message_id: v.number() }),
  'admin.role_changed': v.object({ user_id: USER, role: v.string(), by: v.string() }),
  /** A besitos adjustment or refund the gamification module pays through its ledger. */
  'admin.besitos_granted': v.object({
    user_id: USER,
    /** Not 0, at most BESITOS_MAX either way (the range every amount shares). */
    amount: besitosAdjustment(),
    reason: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
    actor: v.string(),
  }),
});
