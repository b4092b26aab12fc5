// The text files a package ships beside its code (migrations, Lua scripts, the story). The
// build embeds them into dist/ (@diana/tsup-config passes them to esbuild as a define), so a
// bundler that copies only JavaScript still has them; running from source reads the folders.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DianaError } from './errors.js';
import { ERROR_CODES } from './validation.js';

/** A package's shipped text files, by path relative to the package root (`lua/gcra.lua`). */
export interface PackageFiles {
  /** True when the files were embedded by the build; false when they are read from disk. */
  readonly embedded: boolean;
  /** The absolute path of `path` on disk (where it would be read from without embedding). */
  path(path: string): string;
  /** The text of one file. Throws `E_UTILS_PACKAGE_FILE` when it is not there. */
  read(path: string): string;
  /** The files directly in folder `dir` whose names end with `extension`, sorted by name: name → text. */
  folder(dir: string, extension: string): Readonly<Record<string, string>>;
}

/**
 * The files of the package whose root is `root` (a `file:` URL ending in `/`). `embedded` reads
 * what the build put in (path → text): `() => __DIANA_FILES__`, which throws a ReferenceError
 * (or returns undefined) when running from source, where the folders are read instead.
 */
export function packageFiles(root: URL, embeddedBy: () => Readonly<Record<string, string>> | undefined): PackageFiles {
  let embedded: Readonly<Record<string, string>> | undefined;
  try {
    embedded = embeddedBy();
  } catch (error) {
    if (!(error instanceof ReferenceError)) throw error;
  }
  const path = (relative: string) => fileURLToPath(new URL(relative, root));
  const missing = (relative: string, cause?: unknown) =>
    new DianaError(ERROR_CODES.PACKAGE_FILE, `${relative} is not in the package at ${path('.')}`, {
      cause,
      context: { path: relative, embedded: embedded !== undefined },
    });
  if (embedded !== undefined) {
    return {
      embedded: true,
      path,
      read(relative) {
        const text = embedded[relative];
        if (text === undefined) throw missing(relative);
        return text;
      },
      folder(dir, extension) {
        const prefix = `${dir}/`;
        const names = Object.keys(embedded)
          .filter((key) => key.startsWith(prefix) && key.endsWith(extension) && !key.slice(prefix.length).includes('/'))
          .sort();
        return Object.fromEntries(names.map((key) => [key.slice(prefix.length), embedded[key] as string]));
      },
    };
  }
  const read = (relative: string) => {
    try {
      return readFileSync(path(relative), 'utf8');
    } catch (error) {
      throw missing(relative, error);
    }
  };
  return {
    embedded: false,
    path,
    read,
    folder(dir, extension) {
      let names: string[];
      try {
        names = readdirSync(path(dir)).filter((name) => name.endsWith(extension));
      } catch (error) {
        throw missing(dir, error);
      }
      return Object.fromEntries(names.sort().map((name) => [name, read(`${dir}/${name}`)]));
    },
  };
}
