#!/usr/bin/env node
// Error codes have one home each: every `E_…` code a package's src/ names is in that package's
// code map (`…ERROR_CODES = Object.freeze({ … })`), every code in a package's maps starts with
// the package's prefix (PREFIXES below: E_BUS_PUBLISH_FAILED, not E_PUBLISH_FAILED), and a
// package that checks or throws another package's code uses that package's exported constant
// (every code map is exported from its package's root entry), never the string. Then proves itself: fixtures that break each rule must be reported, and
// nothing else. Part of `pnpm lint`.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceFiles } from './source-files.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The prefix of every code of a package: a code names its package. A new package with a code map adds its line. */
export const PREFIXES = Object.freeze({
  '@diana/utils': 'E_UTILS_',
  '@diana/db': 'E_DB_',
  '@diana/cache': 'E_CACHE_',
  '@diana/event-bus': 'E_BUS_',
  '@diana/user-state': 'E_STATE_',
  '@diana/security': 'E_SECURITY_',
  '@diana/config': 'E_CONFIG_',
  '@diana/redis': 'E_REDIS_',
  '@diana/narrative': 'E_NARRATIVE_',
  '@diana/gamification': 'E_GAMIFICATION_',
  '@diana/admin': 'E_ADMIN_',
  '@diana/bot': 'E_BOT_',
});

const MAP = /\b((?:[A-Z][A-Z0-9_]*_)?ERROR_CODES)\s*=\s*Object\.freeze\(\{([\s\S]*?)\}\s*as const\)/g;
const CODE = /['"`](E_[A-Z][A-Z0-9_]*)['"`]/g;

// comments may name codes freely (docs); strings may not
const withoutComments = (text) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');

/**
 * Every package with its code maps (code → file), their names (name → file), its root entry's
 * text (null for an app without src/index.ts) and the code strings its src/ uses outside the maps.
 */
function readTree() {
  const tree = [];
  for (const group of ['packages/core', 'packages/modules', 'apps']) {
    for (const name of readdirSync(join(root, group))) {
      const path = join(root, group, name);
      let manifest;
      try {
        manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
      } catch {
        continue;
      }
      const map = new Map();
      const names = new Map();
      const uses = [];
      for (const file of sourceFiles(join(path, 'src'))) {
        const text = withoutComments(readFileSync(file, 'utf8'));
        for (const [, mapName, body] of text.matchAll(MAP)) {
          names.set(mapName, relative(root, file));
          for (const [, code] of body.matchAll(CODE)) map.set(code, relative(root, file));
        }
        for (const [, code] of text.replace(MAP, '').matchAll(CODE)) uses.push({ file: relative(root, file), code });
      }
      let entry = null;
      try {
        entry = withoutComments(readFileSync(join(path, 'src/index.ts'), 'utf8'));
      } catch {}
      tree.push({ name: manifest.name, map, names, entry, uses });
    }
  }
  return tree;
}

export function checkCodes(tree, prefixes = PREFIXES) {
  const owner = new Map();
  for (const pkg of tree) for (const code of pkg.map.keys()) owner.set(code, pkg.name);
  const problems = [];
  for (const [name, prefix] of Object.entries(prefixes))
    for (const [other, otherPrefix] of Object.entries(prefixes))
      if (name !== other && otherPrefix.startsWith(prefix))
        problems.push(
          `PREFIXES: ${other}'s ${otherPrefix} starts with ${name}'s ${prefix}: a code would name two packages`,
        );
  for (const pkg of tree) {
    const prefix = prefixes[pkg.name];
    for (const [code, file] of pkg.map) {
      if (!prefix) problems.push(`${file}: ${code} has no prefix to follow: add ${pkg.name}'s to PREFIXES`);
      else if (!code.startsWith(prefix)) problems.push(`${file}: ${code} lacks ${pkg.name}'s prefix ${prefix}`);
    }
  }
  for (const pkg of tree)
    for (const [mapName, file] of pkg.names)
      if (pkg.entry !== null && !new RegExp(`\\b${mapName}\\b`).test(pkg.entry))
        problems.push(`${file}: ${mapName} is not exported from ${pkg.name}'s root entry (src/index.ts)`);
  for (const pkg of tree)
    for (const { file, code } of pkg.uses) {
      const home = owner.get(code);
      if (home === pkg.name) continue;
      problems.push(
        home
          ? `${file}: ${code} is ${home}'s code: use its exported constant, not the string`
          : `${file}: ${code} is in no code map: add it to ${pkg.name}'s`,
      );
    }
  return problems;
}

const tree = readTree();
const problems = checkCodes(tree);
if (problems.length > 0) {
  for (const problem of problems) process.stderr.write(`error codes: ${problem}\n`);
  process.exit(1);
}
// `use`: a code string in the package's src/ outside its maps; `map`: an entry of its code map;
// `hidden`: a code map its root entry does not export
const fixtures = [
  { into: '@diana/admin', use: 'E_SECURITY_TOKEN_USED', expect: "is @diana/security's code" },
  { into: '@diana/cache', use: 'E_CACHE_MADE_UP', expect: 'is in no code map' },
  { into: '@diana/event-bus', map: 'E_PUBLISH_MADE_UP', expect: "lacks @diana/event-bus's prefix E_BUS_" },
  { into: '@diana/db', map: 'E_DBX_MADE_UP', expect: "lacks @diana/db's prefix E_DB_" },
  { into: '@diana/fixture', map: 'E_FIXTURE_MADE_UP', expect: 'has no prefix to follow' },
  { into: '@diana/narrative', hidden: 'MADE_UP_ERROR_CODES', expect: "is not exported from @diana/narrative's root" },
];
const broken = tree.map((pkg) => ({ ...pkg, map: new Map(pkg.map), names: new Map(pkg.names), uses: [...pkg.uses] }));
for (const f of fixtures) {
  // a package missing from the tree (@diana/fixture) is one with a code map and no prefix
  if (!broken.some((p) => p.name === f.into))
    broken.push({ name: f.into, map: new Map(), names: new Map(), entry: null, uses: [] });
  const pkg = broken.find((p) => p.name === f.into);
  if (f.use) pkg.uses.push({ file: `fixture:${f.into}`, code: f.use });
  else if (f.map) pkg.map.set(f.map, `fixture:${f.into}`);
  else pkg.names.set(f.hidden, `fixture:${f.into}`);
}
const reported = checkCodes(broken);
const caught = fixtures.every((f) =>
  reported.some((line) => line.startsWith(`fixture:${f.into}: ${f.use ?? f.map ?? f.hidden} ${f.expect}`)),
);
if (!caught || reported.length !== fixtures.length) {
  process.stderr.write(`error codes: the check did not report exactly its fixtures:\n${reported.join('\n')}\n`);
  process.exit(1);
}
const codes = tree.reduce((n, p) => n + p.map.size, 0);
process.stdout.write(
  `error codes: ${codes} codes in ${tree.filter((p) => p.map.size > 0).length} packages' code maps, each with its package's prefix and exported from its root entry; every code string in src/ is its own package's; ${fixtures.length} fixtures caught\n`,
);
