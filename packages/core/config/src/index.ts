// Settings loader

export type { DeepReadonly } from '@diana/utils';
export { deepFreeze } from '@diana/utils';
export type { ConfigErrorCode } from './errors.js';
// Errors
export { CONFIG_ERROR_CODES } from './errors.js';
// ConfigManager
export { CONFIG_EVENTS } from './events.js';
export type { ConfigInstance, ConfigRevision, InstanceStatus, RevisionAction } from './instances.js';
export type { LoadSettingsOptions, SectionSchema, Settings, SettingsSchemas } from './loader.js';
export { getVariableName, loadSettings, SETTINGS_ALIASES } from './loader.js';
export type {
  ChangeMeta,
  ConfigManager,
  ConfigManagerConfigInput,
  ConfigManagerStats,
  ConfigReader,
  TemplateKey,
  TemplateValue,
} from './manager.js';
export { ConfigManagerConfig, configReader, createConfigManager } from './manager.js';
export { CONFIG_MIGRATIONS } from './migrations.js';
export { RedisConfig } from './redis.js';
export type { TemplateDefinition, TemplateType } from './templates.js';
export { defineTemplate, TEMPLATE_TYPES } from './templates.js';
