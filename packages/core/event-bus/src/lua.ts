import { FILES } from './files.js';

/** The text of `lua/<name>.lua` (embedded by the build, or read from the package). */
export function readLua(name: string): string {
  return FILES.read(`lua/${name}.lua`);
}
