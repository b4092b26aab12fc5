// Settings loader

export type { DeepReadonly } from './deep-freeze.js';
export { deepFreeze } from './deep-freeze.js';
export type { ConfigErrorCode } from './errors.js';
// Errors
export { CONFIG_ERROR_CODES } from './errors.js';
export type { LoadSettingsOptions, SectionSchema, Settings, SettingsSchemas } from './settings.js';
export { getVariableName, loadSettings, SETTINGS_ALIASES } from './settings.js';
