// The source files below a folder (recursively), for the structural checks of `pnpm lint`.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** Every .ts/.mts/.js/.mjs file below `dir` (no .d.ts); none when `dir` does not exist. */
export function sourceFiles(dir) {
  let names;
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return /\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts') ? [path] : [];
  });
}
