import { fileURLToPath } from 'node:url';
import type { MigrationSource } from '@diana/db';

/** The migrations this package owns (`user_state`); the app applies them after db's and event-bus's. */
export const USER_STATE_MIGRATIONS: MigrationSource = Object.freeze({
  name: '@diana/user-state',
  // The same relative path from src/ (tests) and dist/ (published).
  directory: fileURLToPath(new URL('../migrations', import.meta.url)),
});
