import { fileURLToPath } from 'node:url';
import type { MigrationSource } from '@diana/db';

/** The migrations this package owns (`config_templates`, `config_instances`, `config_revisions`); after event-bus's. */
export const CONFIG_MIGRATIONS: MigrationSource = Object.freeze({
  name: '@diana/config',
  // The same relative path from src/ (tests) and dist/ (published).
  directory: fileURLToPath(new URL('../migrations', import.meta.url)),
});
