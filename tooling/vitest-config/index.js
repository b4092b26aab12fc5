// The shared vitest preset. Plain JavaScript: vitest loads config files with Node, which
// does not run TypeScript from linked workspace packages.
//   *.test.ts        unit and integration (integration files are *.int.test.ts)
//   *.chaos.test.ts  kills or restarts servers; left out when DIANA_TEST_CHAOS=0
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { defineConfig, mergeConfig } from 'vitest/config';

const skipChaos = process.env.DIANA_TEST_CHAOS === '0';

/** @type {import('./index.d.ts').defineDianaConfig} */
export function defineDianaConfig(overrides = {}) {
  const base = defineConfig({
    test: {
      include: ['test/**/*.test.ts'],
      exclude: ['**/node_modules/**', '**/dist/**', ...(skipChaos ? ['**/*.chaos.test.ts'] : [])],
      pool: 'forks',
      // At least two files at a time. Vitest's default (cores − 1) runs one file at a time on a
      // 2-core machine, and these files mostly wait: on servers, child processes and timers (the
      // whole suite 341 → 209 s on the 2-core CI machine, 2026-12-05).
      maxWorkers: Math.max(2, availableParallelism() - 1),
      testTimeout: 30_000,
      hookTimeout: 60_000,
      passWithNoTests: false,
      globalSetup: [fileURLToPath(new URL('./global-setup.js', import.meta.url))],
    },
  });
  return mergeConfig(base, overrides);
}
