// The build of every public package: ESM + .d.ts for Node 20, one file per entry point.
// Plain JavaScript, like the vitest preset: tsup loads its config with Node.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { defineConfig } from 'tsup';

// The folders of text files a package ships beside its code. Their files are embedded into the
// build as the `__DIANA_FILES__` define (path → text), read through `packageFiles` of
// @diana/utils: a bundler that copies only JavaScript (esbuild, a single-file deploy) still has
// the migrations, Lua scripts and story. The folders stay published for readers.
const EMBEDDED_FOLDERS = ['migrations', 'lua', 'story'];

/** Path → text of every file in the package's embedded folders (the build runs in the package). */
export function embeddedFiles(root = process.cwd()) {
  const files = {};
  for (const folder of EMBEDDED_FOLDERS) {
    const dir = join(root, folder);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) files[`${folder}/${name}`] = readFileSync(join(dir, name), 'utf8');
  }
  return files;
}

/** @type {import('./index.d.ts').defineDianaBuild} */
export function defineDianaBuild(entry, overrides = {}) {
  return defineConfig({
    entry,
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    // test-only entry points import vitest; it is the user's (optional peer dependency)
    external: ['vitest'],
    define: { __DIANA_FILES__: JSON.stringify(embeddedFiles()) },
    ...overrides,
  });
}
