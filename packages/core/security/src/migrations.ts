import { type MigrationSource, packageMigrations } from '@diana/db';
import { FILES } from './files.js';

/** The migrations this package owns (`security_tokens`); the app applies them after db's. */
export const SECURITY_MIGRATIONS: MigrationSource = packageMigrations('@diana/security', FILES);
