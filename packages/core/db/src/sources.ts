import { fileURLToPath } from 'node:url';
import type { MigrationSource } from './migrations.js';

/** The migrations this package owns (`users`, `documents`); the app applies them first. */
export const DB_MIGRATIONS: MigrationSource = Object.freeze({
  name: '@diana/db',
  // The same relative path from src/ (tests) and dist/ (published).
  directory: fileURLToPath(new URL('../migrations', import.meta.url)),
});
