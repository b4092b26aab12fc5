import { type MigrationSource, packageMigrations } from '@diana/db';
import { FILES } from './files.js';

/** The migrations this package owns (`config_templates`, `config_instances`, `config_revisions`); after event-bus's. */
export const CONFIG_MIGRATIONS: MigrationSource = packageMigrations('@diana/config', FILES);
