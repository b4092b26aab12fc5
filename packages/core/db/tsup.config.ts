import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/mongo.ts', 'src/embedded.ts', 'src/testing.ts'],
  format: ['esm'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'node20',
  external: ['vitest'],
});
