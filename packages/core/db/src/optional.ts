// The embedded PostgreSQL (PGlite) and the MongoDB driver are optional peer dependencies: an app
// that uses neither installs neither (PGlite alone is 28 MB). Their entry points load them on
// first use, and a missing one is a coded error naming what to install.
import { DianaError } from '@diana/utils';
import { DB_ERROR_CODES } from './errors.js';

/**
 * Runs `load` (a dynamic `import()` of the optional package `name`); when the package is not
 * installed, throws `E_DB_OPTIONAL_DEPENDENCY` saying which feature needs which packages.
 */
export async function importOptional<T>(
  name: string,
  feature: string,
  install: readonly string[],
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if ((code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') || !String(error).includes(name)) throw error;
    throw new DianaError(
      DB_ERROR_CODES.OPTIONAL_DEPENDENCY,
      `${feature} needs ${install.join(' and ')} (optional peer ${install.length > 1 ? 'dependencies' : 'dependency'} of @diana/db), not installed: npm install ${install.join(' ')}`,
      { cause: error, context: { package: name, install } },
    );
  }
}
