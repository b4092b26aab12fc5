// @diana/config/settings: the settings loader alone. Only @diana/utils and valibot are behind
// it (test/settings-standalone.test.ts walks its imports), so a project that only reads settings
// never loads the ConfigManager, the database or the event bus.
export type { ConfigErrorCode } from './errors.js';
export { CONFIG_ERROR_CODES } from './errors.js';
export type { LoadSettingsOptions, SectionSchema, Settings, SettingsSchemas } from './loader.js';
export { getVariableName, loadSettings, SETTINGS_ALIASES } from './loader.js';
export { RedisConfig } from './redis.js';
