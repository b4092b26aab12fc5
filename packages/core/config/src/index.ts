// @diana/config: settings from the environment, and live-editable configuration with history.

// Settings loader
export type { LoadSettingsOptions, SectionSchema, Settings, SettingsSchemas } from './loader.js';
export { getVariableName, loadSettings, SETTINGS_ALIASES } from './loader.js';
export { RedisConfig } from './redis.js';

// ConfigManager: templates, instances, revisions, hot reload
export type { TemplateDefinition, TemplateType } from './templates.js';
export type {
  ChangeMeta,
  ConfigManager,
  ConfigManagerConfigInput,
  ConfigManagerDeps,
  ConfigManagerStats,
  ConfigReader,
  TemplateKey,
  TemplateValue,
} from './manager-types.js';
export type { ConfigInstance, ConfigRevision, InstanceStatus, KeyRevision, RevisionAction } from './instances.js';
export { defineTemplate, TEMPLATE_TYPES } from './templates.js';
export { ConfigManagerConfig, configReader } from './manager-types.js';
export { createConfigManager } from './manager.js';
export { checkTemplateValues } from './checks.js';
export { CONFIG_EVENTS } from './events.js';
export { CONFIG_MIGRATIONS } from './migrations.js';

// Immutability (re-exported: settings and values are frozen)
export type { DeepReadonly } from '@diana/utils';
export { deepFreeze } from '@diana/utils';

// Errors
export type { ConfigErrorCode } from './errors.js';
export { CONFIG_ERROR_CODES } from './errors.js';
