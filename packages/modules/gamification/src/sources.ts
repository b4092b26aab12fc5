import { fileURLToPath } from 'node:url';
import type { MigrationSource } from '@diana/db';

/** The migrations this package owns (ledger, gifts, reactions, missions, achievements, shop); after the core's. */
export const GAMIFICATION_MIGRATIONS: MigrationSource = Object.freeze({
  name: '@diana/gamification',
  // The same relative path from src/ (tests) and dist/ (published).
  directory: fileURLToPath(new URL('../migrations', import.meta.url)),
});
