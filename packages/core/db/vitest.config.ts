import { defineDianaConfig } from '@diana/vitest-config';

// test/*.test-d.ts are type tests: vitest checks them with tsc (`expectTypeOf`,
// `@ts-expect-error`) alongside the runtime tests.
export default defineDianaConfig({
  test: { typecheck: { enabled: true, include: ['test/**/*.test-d.ts'], tsconfig: './tsconfig.json' } },
});
