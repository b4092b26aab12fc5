#!/usr/bin/env node
// Redis Cluster: the keys of one script or one multi-key command must hash to one slot, or the
// cluster refuses the call (CROSSSLOT). What decides a key's slot is its hash tag — the part
// between the first `{` and the next `}` — so two rules, checked in every src/ file that talks
// to Redis (imports ioredis or @diana/redis) and every package's lua/*.lua:
//
//   1. A key built from a prefix (`${prefix}…`, `${p}…`, `${options.prefix}…`) carries a hash tag
//      (`${prefix}{u:${id}}:e:…`), or the line (or the line above) says `// slot: <why>` — a
//      key that is only ever used alone (single-key commands, single-key scripts). A key that
//      is used alone may also carry a tag; a key used with others must.
//   2. A Lua script that names KEYS[2] says in its header which hash tag its keys share
//      ("same hash tag"), so its caller's key builder is reviewed against it.
//
// Statically, this proves every key was decided on, not that two tagged keys of one call share
// their tag (that needs the values): the conformance suites run on a Redis Cluster do, where a
// call with keys in two slots fails with CROSSSLOT. Then proves itself on fixtures: each must be
// reported, and the clean samples not. Part of `pnpm lint`.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sourceFiles } from './source-files.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const TALKS_TO_REDIS = /from\s+'(ioredis|@diana\/redis)'/;
// a template literal whose first part is a prefix interpolation
const KEY = /`\$\{\s*((?:[\w.]*\.)?(?:\w*prefix\w*|p))\s*\}((?:[^`\\]|\\.)*)`/gi;
const SLOT_NOTE = /\/\/\s*slot:\s*\S/;

/** Problems of one TypeScript source text. */
export function checkSource(file, text) {
  if (!TALKS_TO_REDIS.test(text)) return [];
  const lines = text.split('\n');
  const problems = [];
  lines.forEach((line, index) => {
    if (/^\s*(\/\/|\*|\/\*)/.test(line)) return; // comments and JSDoc may show keys
    for (const match of line.matchAll(KEY)) {
      const rest = match[2] ?? '';
      // the rest of the key with its interpolations removed: a `{` left is a hash tag
      const literal = rest.replace(/\$\{[^{}]*(\{[^{}]*\}[^{}]*)*\}/g, '');
      if (/\{/.test(literal)) continue;
      if (SLOT_NOTE.test(line) || SLOT_NOTE.test(lines[index - 1] ?? '')) continue;
      problems.push(
        `${file}:${index + 1}: key \`\${${match[1]}}${rest}\` has no hash tag {…}: ` +
          'give it one, or mark a key used only alone with `// slot: <why>`',
      );
    }
  });
  return problems;
}

/** Problems of one Lua script text. */
export function checkLua(file, text) {
  if (!/KEYS\[\s*2\s*\]|KEYS\[2\.\.\]/.test(text)) return [];
  const header = text
    .split('\n')
    .filter((line) => line.startsWith('--'))
    .join('\n');
  return /same hash tag/i.test(header)
    ? []
    : [`${file}: uses KEYS[2]: its header must say which hash tag its keys share ("same hash tag")`];
}

function packages() {
  const out = [];
  for (const group of ['packages/core', 'packages/modules', 'apps']) {
    for (const name of readdirSync(join(root, group))) out.push(join(root, group, name));
  }
  return out;
}

let scanned = 0;
const problems = [];
for (const dir of packages()) {
  for (const file of sourceFiles(join(dir, 'src'))) {
    const text = readFileSync(file, 'utf8');
    if (TALKS_TO_REDIS.test(text)) scanned++;
    problems.push(...checkSource(relative(root, file), text));
  }
  let lua = [];
  try {
    lua = readdirSync(join(dir, 'lua')).filter((name) => name.endsWith('.lua'));
  } catch {}
  for (const name of lua) {
    scanned++;
    problems.push(...checkLua(relative(root, join(dir, 'lua', name)), readFileSync(join(dir, 'lua', name), 'utf8')));
  }
}
if (problems.length > 0) {
  for (const problem of problems) process.stderr.write(`hash tags: ${problem}\n`);
  process.exit(1);
}

const IMPORT = "import type { RedisConnector } from '@diana/redis';\n";
const fixtures = [
  { file: 'fixture:untagged.ts', text: `${IMPORT}client.mget(\`\${prefix}a:\${id}\`, \`\${prefix}b:\${id}\`);` },
  { file: 'fixture:untagged-p.ts', text: `${IMPORT}await c.eval(LUA, 2, \`\${p}v:\${key}\`, \`\${p}t:\${tag}\`);` },
  { file: 'fixture:tag-only-interpolated.ts', text: `${IMPORT}const k = \`\${options.prefix}\${user}:x\`;` },
  { file: 'fixture:two-keys.lua', text: '-- KEYS[1] a   KEYS[2] b\nredis.call("GET", KEYS[2])' },
];
const clean = [
  { file: 'clean:tagged.ts', text: `${IMPORT}const k = (id) => \`\${prefix}{u:\${id}}:e:\${slice}\`;` },
  { file: 'clean:stream.ts', text: `${IMPORT}const s = (type) => \`\${prefix}{\${type}}\`;` },
  { file: 'clean:noted.ts', text: `${IMPORT}// slot: one key, used alone\nconst k = \`\${prefix}update:\${id}\`;` },
  { file: 'clean:no-redis.ts', text: `const label = \`\${prefix}x\`;` },
  { file: 'clean:two-keys.lua', text: '-- KEYS[1] a   KEYS[2] b (same hash tag as a)\nredis.call("GET", KEYS[2])' },
];
const check = ({ file, text }) => (file.endsWith('.lua') ? checkLua(file, text) : checkSource(file, text));
const missed = fixtures.filter((f) => check(f).length === 0).map((f) => f.file);
const wrong = clean.filter((f) => check(f).length > 0).map((f) => f.file);
if (missed.length > 0 || wrong.length > 0) {
  process.stderr.write(
    `hash tags: the check is broken: fixtures not reported: ${missed.join(', ') || 'none'}; ` +
      `clean samples reported: ${wrong.join(', ') || 'none'}\n`,
  );
  process.exit(1);
}
process.stdout.write(
  `hash tags: ${scanned} Redis files and scripts: every prefixed key has a hash tag or a slot note; ` +
    `${fixtures.length} fixtures caught\n`,
);
