#!/usr/bin/env node
// The layering of ARCHITECTURE.md §1, checked: every @diana dependency (package.json
// dependencies and peerDependencies) and every @diana import in a package's src/ must be one its
// layer may use. Then proves itself: the same check over the tree plus fixtures that break each
// rule must report exactly those fixtures. Part of `pnpm lint`.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceFiles } from './source-files.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// layer → packages, and what each layer may use (ARCHITECTURE.md's table). @diana/postgres is
// the vendored driver (layer 0: nothing of ours), usable wherever the database is. @diana/redis
// (the one fail-fast Redis connector) sits just above utils: every layer-1 and layer-2 package
// may use it, and it uses only utils.
const LAYERS = [
  { layer: 0, packages: ['@diana/utils', '@diana/postgres'], may: [] },
  { layer: 0.5, packages: ['@diana/redis'], may: ['@diana/utils'] },
  { layer: 1, packages: ['@diana/db', '@diana/cache'], may: ['@diana/utils', '@diana/postgres', '@diana/redis'] },
  {
    layer: 2,
    packages: ['@diana/event-bus', '@diana/security'],
    may: ['@diana/utils', '@diana/postgres', '@diana/redis', '@diana/db'],
  },
  { layer: 3, packages: ['@diana/user-state', '@diana/config'], may: 'below' },
  // modules use layers 0–3 and never each other: they talk only through events
  { layer: 4, packages: ['@diana/narrative', '@diana/gamification', '@diana/admin'], may: 'below' },
  { layer: 5, packages: ['@diana/bot'], may: 'everything' },
];
const layerOf = new Map(LAYERS.flatMap((l) => l.packages.map((p) => [p, l])));

/** Whether package `from` may depend on / import package `to`. */
function allowed(from, to) {
  if (from === to) return true;
  const a = layerOf.get(from);
  const b = layerOf.get(to);
  if (!a || !b) return false;
  if (a.may === 'everything') return true;
  if (a.may === 'below') return b.layer < a.layer;
  return a.may.includes(to);
}

/** Every workspace package with its @diana dependencies and the @diana imports of its src/. */
function readTree() {
  const found = [];
  for (const dir of ['packages/core', 'packages/modules', 'packages/vendor', 'apps']) {
    for (const name of readdirSync(join(root, dir))) {
      const path = join(root, dir, name);
      let manifest;
      try {
        manifest = JSON.parse(readFileSync(join(path, 'package.json'), 'utf8'));
      } catch {
        continue;
      }
      const dependencies = Object.keys({ ...manifest.dependencies, ...manifest.peerDependencies }).filter((d) =>
        d.startsWith('@diana/'),
      );
      const imports = [];
      for (const file of sourceFiles(join(path, 'src'))) {
        const text = readFileSync(file, 'utf8');
        for (const [, specifier] of text.matchAll(/(?:from\s+|import\s*\(\s*)'(@diana\/[^']+)'/g))
          imports.push({ file: relative(root, file), target: specifier.split('/').slice(0, 2).join('/') });
      }
      found.push({ name: manifest.name, dir: relative(root, path), dependencies, imports });
    }
  }
  return found;
}

/** The problems of a tree: one line each. */
export function checkLayers(tree) {
  const problems = [];
  for (const pkg of tree) {
    if (!layerOf.has(pkg.name)) {
      problems.push(`${pkg.dir}: ${pkg.name} has no layer in scripts/check-layers.mjs (ARCHITECTURE.md §1)`);
      continue;
    }
    for (const target of pkg.dependencies)
      if (!allowed(pkg.name, target))
        problems.push(
          `${pkg.dir}/package.json: ${pkg.name} (layer ${layerOf.get(pkg.name).layer}) depends on ${target}`,
        );
    for (const { file, target } of pkg.imports)
      if (!allowed(pkg.name, target))
        problems.push(`${file}: ${pkg.name} (layer ${layerOf.get(pkg.name).layer}) imports ${target}`);
  }
  return problems;
}

const tree = readTree();
const problems = checkLayers(tree);
if (problems.length > 0) {
  for (const problem of problems) process.stderr.write(`layers: ${problem}\n`);
  process.exit(1);
}

// The proof: each fixture breaks one rule and must be reported, and nothing else may be.
const fixtures = [
  { into: '@diana/db', imports: '@diana/event-bus', why: 'a lower layer imports a higher one' },
  { into: '@diana/cache', imports: '@diana/db', why: 'a layer-1 package uses its neighbour' },
  { into: '@diana/event-bus', imports: '@diana/cache', why: 'layer 2 uses only utils and db' },
  { into: '@diana/gamification', imports: '@diana/narrative', why: 'a module imports another module' },
  { into: '@diana/user-state', depends: '@diana/config', why: 'layer 3 uses only layers 0–2' },
  { into: '@diana/utils', depends: '@diana/db', why: 'utils uses nothing of ours' },
  { into: '@diana/redis', imports: '@diana/db', why: 'the Redis connector uses only utils' },
  { into: '@diana/utils', imports: '@diana/redis', why: 'utils sits below the Redis connector' },
];
const broken = tree.map((pkg) => ({ ...pkg, dependencies: [...pkg.dependencies], imports: [...pkg.imports] }));
for (const f of fixtures) {
  const pkg = broken.find((p) => p.name === f.into);
  if (f.imports) pkg.imports.push({ file: `${pkg.dir}/src/__fixture__.ts`, target: f.imports });
  else pkg.dependencies.push(f.depends);
}
const reported = checkLayers(broken);
const missed = fixtures.filter(
  (f) =>
    !reported.some(
      (line) =>
        line.endsWith(`${f.imports ? 'imports' : 'depends on'} ${f.imports ?? f.depends}`) && line.includes(f.into),
    ),
);
if (missed.length > 0 || reported.length !== fixtures.length) {
  for (const f of missed)
    process.stderr.write(`layers: the check missed a fixture: ${f.into} → ${f.imports ?? f.depends} (${f.why})\n`);
  process.stderr.write(
    `layers: reported ${reported.length} for ${fixtures.length} fixtures:\n${reported.join('\n')}\n`,
  );
  process.exit(1);
}
const imports = tree.reduce((n, p) => n + p.imports.length, 0);
process.stdout.write(
  `layers: ${tree.length} packages, ${imports} @diana imports in src/ follow ARCHITECTURE.md; ${fixtures.length} fixtures that break it are caught\n`,
);
