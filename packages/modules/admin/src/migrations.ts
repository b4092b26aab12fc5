import { type MigrationSource, packageMigrations } from '@diana/db';
import { FILES } from './files.js';

/** The migrations this package owns (audit, tariffs, subscriptions, scheduled posts); after the core's. */
export const ADMIN_MIGRATIONS: MigrationSource = packageMigrations('@diana/admin', FILES);
