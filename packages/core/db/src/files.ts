import { type PackageFiles, packageFiles } from '@diana/utils';

// Set by the build (@diana/tsup-config embeds migrations/, lua/ and story/ as this define);
// undefined when running from source, where the folders are read.
declare const __DIANA_FILES__: Readonly<Record<string, string>>;

/** This package's shipped text files: embedded in dist/, read from disk from source. */
export const FILES: PackageFiles = packageFiles(new URL('../', import.meta.url), embedded());

function embedded(): Readonly<Record<string, string>> | undefined {
  try {
    return __DIANA_FILES__;
  } catch {
    return undefined;
  }
}
