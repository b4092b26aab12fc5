import type { Options } from 'tsup';

/** The tsup config of a public package: `entry` are its entry points under src/. */
export declare function defineDianaBuild(
  entry: string[],
  overrides?: Options,
): ReturnType<typeof import('tsup').defineConfig>;

/** Path → text of the package's `migrations/`, `lua/` and `story/` files, as the build embeds them. */
export declare function embeddedFiles(root?: string): Record<string, string>;
