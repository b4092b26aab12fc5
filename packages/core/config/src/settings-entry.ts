// @diana/config/settings: the settings loader alone. Only @diana/utils and valibot are behind
// it (test/settings-entry.test.ts walks its imports), so a project that only reads settings
// never loads the ConfigManager, the database or the event bus.
export type { ConfigErrorCode } from './errors.js';
export { CONFIG_ERROR_CODES } from './errors.js';
export { RedisConfig } from './redis.js';
export type { LoadSettingsOptions, SectionSchema, Settings, SettingsSchemas } from './settings.js';
export { getVariableName, loadSettings, SETTINGS_ALIASES } from './settings.js';
