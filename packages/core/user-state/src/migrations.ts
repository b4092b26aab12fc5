import { type MigrationSource, packageMigrations } from '@diana/db';
import { FILES } from './files.js';

/** The migrations this package owns (`user_state`); the app applies them after db's and event-bus's. */
export const USER_STATE_MIGRATIONS: MigrationSource = packageMigrations('@diana/user-state', FILES);
