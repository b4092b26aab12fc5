import { FILES } from './files.js';
import { type MigrationSource, packageMigrations } from './migrate.js';

/** The migrations this package owns (`users`, `documents`); the app applies them first. */
export const DB_MIGRATIONS: MigrationSource = packageMigrations('@diana/db', FILES);
