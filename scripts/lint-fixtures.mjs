#!/usr/bin/env node
// Proves the lint rules work: places fixtures that break them where they apply, runs Biome
// with the real configuration, and fails unless each expected diagnostic (or its absence) holds.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fixtures = join(root, 'tooling/lint-fixtures');
const tag = `__lint_fixture_${process.pid}__`;

const cases = [
  {
    fixture: 'reads-env.ts.fixture',
    at: `packages/core/${tag}/src/env.ts`,
    rule: 'lint/style/noProcessEnv',
    expect: true,
  },
  { fixture: 'reads-env.ts.fixture', at: `apps/${tag}/src/env.ts`, rule: 'lint/style/noProcessEnv', expect: true },
  {
    fixture: 'reads-env.ts.fixture',
    at: `packages/core/config/src/${tag}.ts`,
    rule: 'lint/style/noProcessEnv',
    expect: false,
  },
  {
    fixture: 'logs-to-console.ts.fixture',
    at: `packages/modules/${tag}/src/log.ts`,
    rule: 'lint/suspicious/noConsole',
    expect: true,
  },
  // barrels keep their hand-made groups (the override in biome.json); any other file is sorted
  {
    fixture: 'grouped-barrel.ts.fixture',
    at: `packages/core/${tag}/src/index.ts`,
    rule: 'assist/source/organizeImports',
    expect: false,
  },
  {
    fixture: 'grouped-barrel.ts.fixture',
    at: `packages/modules/${tag}/src/exports.ts`,
    rule: 'assist/source/organizeImports',
    expect: true,
  },
];

const created = [];
let failures = 0;
try {
  for (const c of cases) {
    const target = join(root, c.at);
    mkdirSync(dirname(target), { recursive: true });
    copyFileSync(join(fixtures, c.fixture), target);
    created.push(c.at.includes(`/${tag}/`) ? c.at.slice(0, c.at.indexOf(`/${tag}/`) + tag.length + 1) : c.at);
  }
  const output = runBiome(cases.map((c) => c.at));
  for (const c of cases) {
    const found = output.split('\n').some((line) => line.includes(`title=${c.rule}`) && line.includes(c.at));
    const ok = found === c.expect;
    if (!ok) failures++;
    process.stdout.write(`${ok ? 'ok  ' : 'FAIL'} ${c.rule} ${c.expect ? 'reported' : 'not reported'} in ${c.at}\n`);
  }
} finally {
  for (const path of created) rmSync(join(root, path), { recursive: true, force: true });
}
if (failures > 0) {
  process.stderr.write(`lint fixtures: ${failures} expectation(s) failed — the lint rules do not hold\n`);
  process.exit(1);
}
process.stdout.write('lint fixtures: the rules hold\n');

function runBiome(paths) {
  try {
    return execFileSync(
      'pnpm',
      ['exec', 'biome', 'check', '--formatter-enabled=false', '--reporter=github', '--max-diagnostics=none', ...paths],
      {
        cwd: root,
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
  } catch (error) {
    // Biome exits non-zero when it reports errors, which is what we expect here.
    return `${error.stdout ?? ''}\n${error.stderr ?? ''}`;
  }
}
