// @diana/user-state: per-user slices, persistent or ephemeral, updated without losing a write.

// Config
export type { UserStateConfigInput } from './config.js';
export {
  DEFAULT_STATE_CACHE_TTL,
  DEFAULT_STATE_MAX_ATTEMPTS,
  DEFAULT_STATE_UPDATE_DEADLINE,
  UserStateConfig,
} from './config.js';

// Slices
export type { SliceDefinition, SliceOptions, SliceValue } from './slice.js';
export { defineSlice } from './slice.js';

// The manager
export type { SliceName, UserStateDeps, UserStateManager, UserStateStats, ValueOf } from './manager.js';
export { createUserStateManager } from './manager.js';

// Homes: the port, memory and postgres (also ./adapters/memory, ./adapters/postgres); Redis is ./adapters/redis
export type { SliceConflict, SliceStore, SliceWrite, StoredSlice } from './types.js';
export { createMemorySliceStore } from './adapters/memory.js';
export type { PostgresSliceStoreOptions } from './adapters/postgres.js';
export { createPostgresSliceStore } from './adapters/postgres.js';

// Events and migrations
export { USER_STATE_EVENTS } from './events.js';
export { USER_STATE_MIGRATIONS } from './migrations.js';

// Errors
export type { UserStateErrorCode } from './errors.js';
export { USER_STATE_ERROR_CODES } from './errors.js';
