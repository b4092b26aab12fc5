import { type PackageFiles, packageFiles } from '@diana/utils';

// Set by the build (@diana/tsup-config embeds migrations/, lua/, story/); absent from source.
declare const __DIANA_FILES__: Readonly<Record<string, string>>;
/** This package's shipped text files: embedded in dist/, read from the folders from source. */
export const FILES: PackageFiles = packageFiles(new URL('../', import.meta.url), () => __DIANA_FILES__);
