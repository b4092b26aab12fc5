import { defineEvents } from '@diana/event-bus';
import * as v from 'valibot';

/**
 * `config.changed`: what is active for (key, scope) changed, as of change number `seq`. No
 * values: every process reads them from PostgreSQL and checks them against its own schema.
 */
export const CONFIG_EVENTS = defineEvents({
  'config.changed': v.object({
    key: v.pipe(v.string(), v.maxLength(64)),
    scope: v.pipe(v.string(), v.maxLength(160)),
    instance_id: v.pipe(v.string(), v.uuid()),
    seq: v.pipe(v.number(), v.safeInteger(), v.minValue(1)),
  }),
});
