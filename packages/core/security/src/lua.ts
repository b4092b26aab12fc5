import { readFileSync } from 'node:fs';

/** The text of `lua/<name>.lua`. This module sits at the top of src/ (and of dist/ once bundled). */
export function readLua(name: string): string {
  return readFileSync(new URL(`../lua/${name}.lua`, import.meta.url), 'utf8');
}
