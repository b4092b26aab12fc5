#!/usr/bin/env node
// Error codes have one home each: every `E_…` code a package's src/ names is in that package's
// code map (`…ERROR_CODES = Object.freeze({ … })`), and a package that checks or throws another
// package's code uses that package's exported constant, never the string. Then proves itself:
// fixtures that break each rule must be reported, and nothing else. Part of `pnpm lint`.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceFiles } from './source-files.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MAP = /ERROR_CODES\s*=\s*Object\.freeze\(\{([\s\S]*?)\}\s*as const\)/g;
const CODE = /['"`](E_[A-Z][A-Z0-9_]*)['"`]/g;

// comments may name codes freely (docs); strings may not
const withoutComments = (text) => text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');

/** Every package with its code map and the code strings its src/ uses outside the map. */
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
      const map = new Set();
      const uses = [];
      for (const file of sourceFiles(join(path, 'src'))) {
        const text = withoutComments(readFileSync(file, 'utf8'));
        for (const [, body] of text.matchAll(MAP)) for (const [, code] of body.matchAll(CODE)) map.add(code);
        for (const [, code] of text.replace(MAP, '').matchAll(CODE)) uses.push({ file: relative(root, file), code });
      }
      tree.push({ name: manifest.name, map, uses });
    }
  }
  return tree;
}

export function checkCodes(tree) {
  const owner = new Map();
  for (const pkg of tree) for (const code of pkg.map) owner.set(code, pkg.name);
  const problems = [];
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
const fixtures = [
  { into: '@diana/admin', code: 'E_TOKEN_USED', expect: "is @diana/security's code" },
  { into: '@diana/cache', code: 'E_CACHE_MADE_UP', expect: 'is in no code map' },
];
const broken = tree.map((pkg) => ({ ...pkg, uses: [...pkg.uses] }));
for (const f of fixtures) broken.find((p) => p.name === f.into).uses.push({ file: `fixture:${f.into}`, code: f.code });
const reported = checkCodes(broken);
const caught = fixtures.every((f) =>
  reported.some((line) => line.startsWith(`fixture:${f.into}: ${f.code} ${f.expect}`)),
);
if (!caught || reported.length !== fixtures.length) {
  process.stderr.write(`error codes: the check did not report exactly its fixtures:\n${reported.join('\n')}\n`);
  process.exit(1);
}
const codes = tree.reduce((n, p) => n + p.map.size, 0);
process.stdout.write(
  `error codes: ${codes} codes in ${tree.filter((p) => p.map.size > 0).length} code maps; every code string in src/ is its own package's; ${fixtures.length} fixtures caught\n`,
);
