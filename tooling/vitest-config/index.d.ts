import type { ViteUserConfig } from 'vitest/config';

/** The vitest config of a Diana package, with per-package additions merged in. */
export declare function defineDianaConfig(overrides?: ViteUserConfig): ViteUserConfig;
