import type { Options } from 'tsup';

/** The tsup config of a public package: `entry` are its entry points under src/. */
export declare function defineDianaBuild(
  entry: string[],
  overrides?: Options,
): ReturnType<typeof import('tsup').defineConfig>;
