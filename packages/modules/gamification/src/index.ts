// The one range of an amount (commands, events, config), from the core
export { BESITOS_ERROR_CODES, BESITOS_MAX, parseBesitos } from '@diana/utils';
// Ledger
export { GAMIFICATION_ERROR_CODES } from './errors.js';
// Events
export { GAMIFICATION_EVENTS } from './events.js';
export type { AwardResult, Ledger } from './ledger.js';
export { checkLedgerInvariants, createLedger, LEDGER_ERROR_CODES } from './ledger.js';
export { GAMIFICATION_MIGRATIONS } from './migrations.js';
export type { GamificationContext, GamificationDeps, GamificationModule } from './module.js';
// The module
export { createGamificationModule } from './module.js';
// Payment notices
export { NOTICE_GROUP } from './notices.js';
// Templates
export { ACHIEVEMENTS, GAMIFICATION_TEMPLATES, MISSIONS, REWARDS, SHOP } from './templates.js';
export { TEXTS } from './texts.js';
