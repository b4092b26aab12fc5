import { fileURLToPath } from 'node:url';
import type { MigrationSource } from '@diana/db';

/** The migrations this package owns (audit, tariffs, subscriptions, scheduled posts); after the core's. */
export const ADMIN_MIGRATIONS: MigrationSource = Object.freeze({
  name: '@diana/admin',
  // The same relative path from src/ (tests) and dist/ (published).
  directory: fileURLToPath(new URL('../migrations', import.meta.url)),
});
