import { type MigrationSource, packageMigrations } from '@diana/db';
import { FILES } from './files.js';

/** The migrations this package owns (ledger, gifts, reactions, missions, achievements, shop); after the core's. */
export const GAMIFICATION_MIGRATIONS: MigrationSource = packageMigrations('@diana/gamification', FILES);
