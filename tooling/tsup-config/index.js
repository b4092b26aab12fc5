// The build of every public package: ESM + .d.ts for Node 20, one file per entry point.
// Plain JavaScript, like the vitest preset: tsup loads its config with Node.
import { defineConfig } from 'tsup';

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
    ...overrides,
  });
}
