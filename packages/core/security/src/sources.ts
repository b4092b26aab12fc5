import { fileURLToPath } from 'node:url';
import type { MigrationSource } from '@diana/db';

/** The migrations this package owns (`security_tokens`); the app applies them after db's. */
export const SECURITY_MIGRATIONS: MigrationSource = Object.freeze({
  name: '@diana/security',
  // The same relative path from src/ (tests) and dist/ (published).
  directory: fileURLToPath(new URL('../migrations', import.meta.url)),
});
