// Homes (also ./adapters/memory, ./adapters/postgres; the Redis store is ./adapters/redis)
export { createMemorySliceStore } from './adapters/memory.js';
export { createPostgresSliceStore } from './adapters/postgres.js';
export type { UserStateConfigInput } from './config.js';
// Config
export {
  DEFAULT_STATE_CACHE_TTL,
  DEFAULT_STATE_MAX_ATTEMPTS,
  DEFAULT_STATE_UPDATE_DEADLINE,
  UserStateConfig,
} from './config.js';
export type { UserStateErrorCode } from './errors.js';
// Errors
export { USER_STATE_ERROR_CODES } from './errors.js';
// Events
export { USER_STATE_EVENTS } from './events.js';
export type { SliceName, UserStateDeps, UserStateManager, UserStateStats, ValueOf } from './manager.js';
// The manager
export { createUserStateManager } from './manager.js';
export { USER_STATE_MIGRATIONS } from './migrations.js';
export type { SliceDefinition, SliceOptions, SliceValue } from './slice.js';
// Slices
export { defineSlice } from './slice.js';
export type { SliceStore, SliceWrite, StoredSlice } from './types.js';
