// @diana/gamification: the besitos ledger, daily gifts, missions, achievements, the shop.

// The module
export type { GamificationContext, GamificationDeps, GamificationModule } from './module.js';
export { createGamificationModule } from './module.js';
export type { GamificationSettings } from './retention.js';

// Ledger
export type { AwardResult, Ledger } from './ledger.js';
export { checkLedgerInvariants, createLedger, LEDGER_ERROR_CODES } from './ledger.js';

// The one range of an amount (commands, events, config), from the core
export { BESITOS_ERROR_CODES, BESITOS_MAX, parseBesitos } from '@diana/utils';

// Events and migrations
export { GAMIFICATION_EVENTS } from './events.js';
export { GAMIFICATION_MIGRATIONS } from './migrations.js';

// Templates and texts
export { ACHIEVEMENTS, GAMIFICATION_TEMPLATES, MISSIONS, REWARDS, SHOP } from './templates.js';
export { TEXTS } from './texts.js';

// Payment notices
export { NOTICE_GROUP } from './notices.js';

// Errors
export { GAMIFICATION_ERROR_CODES } from './errors.js';
