// What the app is made of, as data: the settings type, the live-editable templates, every
// package's migrations and events. The CLI reads these without starting anything.
import { ADMIN_EVENTS, ADMIN_MIGRATIONS } from '@diana/admin';
import { CONFIG_EVENTS, CONFIG_MIGRATIONS, defineTemplate, type Settings } from '@diana/config';
import { DB_MIGRATIONS } from '@diana/db';
import { EVENT_BUS_MIGRATIONS, mergeEvents } from '@diana/event-bus';
import { GAMIFICATION_EVENTS, GAMIFICATION_MIGRATIONS, GAMIFICATION_TEMPLATES } from '@diana/gamification';
import { NARRATIVE_EVENTS } from '@diana/narrative';
import { SECURITY_MIGRATIONS } from '@diana/security';
import { USER_STATE_EVENTS, USER_STATE_MIGRATIONS } from '@diana/user-state';
import * as v from 'valibot';
import type { SETTINGS_SCHEMAS } from './config.js';
import { CORE_EVENTS } from './events.js';
import { TEXTS } from './texts.js';

/** The settings the app runs with. */
export type AppSettings = Settings<typeof SETTINGS_SCHEMAS>;

/** Rate-limit policies, editable live through ConfigManager. */
export const RATE_LIMITS = defineTemplate('security.rate_limits', {
  type: 'setting',
  // bounded so that no edit can lock anyone out for longer than a day (staff skip `updates` anyway)
  schema: v.record(
    v.string(),
    v.object({
      limit: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(10_000)),
      window_ms: v.pipe(v.number(), v.integer(), v.minValue(1_000), v.maxValue(86_400_000)),
    }),
  ),
  defaults: {
    // sustained 1 update per 3 s per user, below Telegram's 1 message/s per chat; bursts of 20
    updates: { limit: 20, window_ms: 60_000 },
    trivia: { limit: 20, window_ms: 3_600_000 },
    purchase: { limit: 10, window_ms: 60_000 },
    bid: { limit: 1, window_ms: 5_000 },
  },
  description: 'Rate limits per user and action',
});

/** The answer to whatever no module handles (texts.ts; the main menu goes under it). */
export const HELP = TEXTS.help;

/** Every package's migrations, in layer order (modules last). */
export const ALL_MIGRATIONS = [
  DB_MIGRATIONS,
  EVENT_BUS_MIGRATIONS,
  SECURITY_MIGRATIONS,
  USER_STATE_MIGRATIONS,
  CONFIG_MIGRATIONS,
  GAMIFICATION_MIGRATIONS,
  ADMIN_MIGRATIONS,
] as const;

/** Every event type the app's bus knows (the CLI checks types against it too). */
export const ALL_EVENTS = mergeEvents(
  mergeEvents(mergeEvents(CORE_EVENTS, USER_STATE_EVENTS), mergeEvents(CONFIG_EVENTS, NARRATIVE_EVENTS)),
  mergeEvents(GAMIFICATION_EVENTS, ADMIN_EVENTS),
);

/** The live-editable settings ConfigManager holds (the bot and the CLI). */
export const CONFIG_TEMPLATES = [RATE_LIMITS, ...GAMIFICATION_TEMPLATES] as const;
