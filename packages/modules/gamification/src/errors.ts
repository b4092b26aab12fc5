/** Codes of the errors this module raises besides the ledger's (`LEDGER_ERROR_CODES`). */
export const GAMIFICATION_ERROR_CODES = Object.freeze({
  /** A daily gift for a day already paid: rolls its transaction back; the user is told, nothing escapes the module. */
  DAILY_ALREADY_CLAIMED: 'E_GAMIFICATION_DAILY_ALREADY_CLAIMED',
  /** `createGamificationModule`'s settings are not what `GamificationSettings` says: nothing is created. */
  CONFIG: 'E_GAMIFICATION_CONFIG',
} as const);
