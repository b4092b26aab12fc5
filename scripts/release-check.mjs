#!/usr/bin/env node
// pnpm release:check — proves a release works end to end without touching a real registry:
// starts Verdaccio on 127.0.0.1, publishes every public package into it with
// `changeset publish`, installs every public package from it into a scratch project outside the
// workspace with plain npm, and there: runs small programs (settings with a secret, the
// postgres.js termination regression against the installed @diana/db, the guarantees of issue
// #18 in scripts/release-check/guarantees.mjs), checks that @diana/db installs without its
// optional peers and says what to install, checks that the READMEs link nowhere into the
// repository, type-checks a file importing every entry point, and every README's example,
// against the published .d.ts (`skipLibCheck: false`), and bundles a program using every
// package with esbuild and runs the bundle from a folder without node_modules.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run, writeUserConfig } from './registry.mjs';
import { writeReadmeExamples } from './release-check/readme-examples.mjs';

// The program run in the scratch project: loads settings with a secret URL and logs them.
const SCRATCH_PROGRAM = `
import { Writable } from 'node:stream';
import { loadSettings } from '@diana/config';
import { coerceInt, createLogger, formatBesitos, newId, isId, secretUrl } from '@diana/utils';
import * as v from 'valibot';

const Database = v.object({ url: secretUrl({ protocols: ['postgres'] }), pool_max: v.optional(coerceInt(), 10) });
const settings = loadSettings({ database: Database }, {
  DATABASE_URL: 'postgres://app:top-secret-pw@db/diana',
  DIANA_DATABASE_POOL_MAX: '12',
}, { env_file: false });
let logged = '';
const destination = new Writable({ write(chunk, _e, done) { logged += chunk; done(); } });
createLogger({ destination }).info({ settings }, 'loaded ' + formatBesitos(2));
const shown = JSON.stringify(settings);
console.log(JSON.stringify({
  pool_max: settings.database.pool_max,
  url: JSON.parse(shown).database.url,
  id_ok: isId(newId()),
  leaked: (shown + logged).includes('top-secret-pw'),
}));
`;

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// versions the workspace pins (the pnpm catalog), for what the scratch project installs itself
const workspaceYaml = readFileSync(join(root, 'pnpm-workspace.yaml'), 'utf8');
const catalog = (name) => {
  const quoted = name.startsWith('@') ? `["']${name}["']` : name;
  const version = new RegExp(`^\\s*${quoted}:\\s*['"]?([^'"\\s]+)`, 'm').exec(workspaceYaml)?.[1];
  if (!version) throw new Error(`${name} is not in the pnpm catalog`);
  return version;
};
// the esbuild tsup 8.5 builds with (a user's bundler; not a workspace dependency)
const ESBUILD_VERSION = '0.27.7';
const work = mkdtempSync(join(tmpdir(), 'diana-release-check-'));
let verdaccio;

try {
  const packages = listPublicPackages();
  await run('pnpm', ['turbo', 'run', 'build', 'publint', ...packages.flatMap((p) => ['--filter', p.name])], {
    cwd: root,
  });

  const port = await freePort();
  const registry = `http://127.0.0.1:${port}/`;
  verdaccio = startVerdaccio(port);
  await waitForRegistry(registry, 30_000);
  const token = await createUser(registry);

  const env = {
    ...process.env,
    npm_config_registry: registry,
    npm_config_userconfig: writeUserConfig(work, registry, { token }),
  };
  await run('pnpm', ['changeset', 'publish', '--no-git-tag'], { cwd: root, env });
  for (const pkg of packages) {
    const response = await fetch(new URL(pkg.name.replace('/', '%2f'), registry));
    const doc = response.ok ? await response.json() : undefined;
    if (!doc?.versions?.[pkg.version]) throw new Error(`${pkg.name}@${pkg.version} is not in the registry`);
    // third-party dependencies are published as ranges (the workspace's lockfile pins them), so a
    // consumer's install shares one copy with its own; grammy and @opentelemetry/api are peers
    const manifest = doc.versions[pkg.version];
    const exact = Object.entries(manifest.dependencies ?? {}).filter(
      ([name, spec]) => !name.startsWith('@diana/') && /^\d/.test(spec),
    );
    if (exact.length > 0) throw new Error(`${pkg.name} publishes exact pins: ${JSON.stringify(exact)}`);
    for (const peer of ['grammy', '@opentelemetry/api'])
      if (manifest.dependencies?.[peer]) throw new Error(`${pkg.name} depends on ${peer} instead of peering it`);
    process.stdout.write(`release:check: ${pkg.name}@${pkg.version} is in the registry, dependencies as ranges\n`);
  }

  const scratch = join(work, 'scratch');
  mkdirSync(scratch);
  writeFileSync(
    join(scratch, 'package.json'),
    JSON.stringify({
      name: 'diana-scratch',
      private: true,
      type: 'module',
      dependencies: {
        // every public package, and the peers a consumer brings (not PGlite and MongoDB yet:
        // @diana/db must install and explain itself without them)
        ...Object.fromEntries(packages.map((p) => [p.name, p.version])),
        ioredis: catalog('ioredis'),
        valibot: catalog('valibot'),
        grammy: catalog('grammy'),
        '@opentelemetry/api': catalog('@opentelemetry/api'),
        vitest: catalog('vitest'),
        typescript: catalog('typescript'),
        '@types/node': catalog('@types/node'),
        esbuild: ESBUILD_VERSION,
      },
    }),
  );
  writeFileSync(join(scratch, 'check.mjs'), SCRATCH_PROGRAM);
  const scratchEnv = {
    ...process.env,
    npm_config_userconfig: writeUserConfig(scratch, registry, { scopedOnly: true }),
  };
  delete scratchEnv.npm_config_registry;
  await run('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: scratch, env: scratchEnv });
  const output = await run('node', ['check.mjs'], { cwd: scratch });
  const result = JSON.parse(output.trim().split('\n').pop());
  if (result.pool_max !== 12 || result.url !== 'postgres://app:***@db/diana' || !result.id_ok || result.leaked) {
    throw new Error(`the scratch program printed an unexpected result: ${output}`);
  }
  // the driver fix must reach users of the published @diana/db, not only this workspace
  copyFileSync(join(root, 'packages/core/db/test/fixtures/terminated/reserved.mjs'), join(scratch, 'terminated.mjs'));
  const databaseUrl = process.env.DIANA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const terminated = await run('node', ['terminated.mjs', databaseUrl, '@diana/db'], { cwd: scratch });
  const survived = JSON.parse(terminated.trim().split('\n').pop());
  if (!survived.ok || survived.codes.join() !== 'E_DB_UNAVAILABLE')
    throw new Error(`the installed @diana/db did not survive a terminated reserved connection: ${terminated}`);
  process.stdout.write(
    `release:check: installed @diana/db survived a terminated reserved connection (${terminated.trim()})\n`,
  );
  // the guarantees of issue #18, tried against the installed packages (a private redis-server)
  copyFileSync(join(root, 'scripts/release-check/guarantees.mjs'), join(scratch, 'guarantees.mjs'));
  const guarantees = await run('node', ['guarantees.mjs'], { cwd: scratch }).catch((error) => {
    throw new Error(`the installed packages broke a guarantee:\n${error.message}`);
  });
  for (const line of guarantees.trim().split('\n')) {
    const item = JSON.parse(line);
    process.stdout.write(
      `release:check: guarantee ${item.item} (${item.name}): ${item.ok ? 'ok' : 'FAILED'} — ${item.detail}\n`,
    );
  }
  await checkOptionalPeers(scratch, scratchEnv);
  checkReadmeLinks(scratch);
  await checkTypes(scratch);
  await checkBundle(scratch, databaseUrl);
  process.stdout.write(
    'release:check: ok — published to Verdaccio, installed with npm outside the workspace, type-checked, bundled, ran\n',
  );
} finally {
  verdaccio?.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}

// @diana/db without PGlite and the MongoDB driver (optional peers): installed without them, its
// entry points reject with E_DB_OPTIONAL_DEPENDENCY naming them; then they are installed.
async function checkOptionalPeers(scratch, env) {
  copyFileSync(join(root, 'scripts/release-check/optional.mjs'), join(scratch, 'optional.mjs'));
  const output = await run('node', ['optional.mjs'], { cwd: scratch });
  const result = JSON.parse(output.trim().split('\n').pop());
  const named = (text, names) => text.startsWith('E_DB_OPTIONAL_DEPENDENCY: ') && names.every((n) => text.includes(n));
  if (
    result.pglite_installed ||
    result.mongodb_installed ||
    !named(result.embedded, ['@electric-sql/pglite', '@electric-sql/pglite-socket']) ||
    !named(result.mongo, ['npm install mongodb'])
  )
    throw new Error(`@diana/db without its optional peers: ${output}`);
  process.stdout.write(
    `release:check: @diana/db installed without PGlite and MongoDB, and says so: ${result.embedded}\n`,
  );
  const optional = ['@electric-sql/pglite', '@electric-sql/pglite-socket', 'mongodb'];
  await run(
    'npm',
    ['install', '--no-audit', '--no-fund', '--loglevel=error', ...optional.map((n) => `${n}@${catalog(n)}`)],
    {
      cwd: scratch,
      env,
    },
  );
}

// The installed READMEs link only to the web or within themselves: a link relative to the
// repository's folders (`../../vendor/postgres/README.md`) leads nowhere on a registry's page.
function checkReadmeLinks(scratch) {
  const relative = [];
  for (const name of listPublicPackages().map((p) => p.name)) {
    const readme = readFileSync(join(scratch, 'node_modules', name, 'README.md'), 'utf8');
    for (const [, target] of readme.matchAll(/\]\(([^)\s]+)\)/g))
      if (!/^(https?:|mailto:|#)/.test(target)) relative.push(`${name}: ${target}`);
  }
  if (relative.length > 0) throw new Error(`published READMEs link into the repository:\n${relative.join('\n')}`);
  process.stdout.write('release:check: the published READMEs link only to the web or within themselves\n');
}

// A TypeScript file importing every entry point of every installed @diana package, and each
// installed README's example, checked against the published .d.ts with skipLibCheck off (their
// imports must resolve for a consumer; an example must compile as a stranger would copy it).
async function checkTypes(scratch) {
  const entries = [];
  for (const name of listPublicPackages().map((p) => p.name)) {
    const manifest = JSON.parse(readFileSync(join(scratch, 'node_modules', name, 'package.json'), 'utf8'));
    for (const subpath of Object.keys(manifest.exports ?? {}))
      if (subpath !== './package.json') entries.push(subpath === '.' ? name : `${name}/${subpath.slice(2)}`);
  }
  // and every README's example, as published (scripts/release-check/readme-examples.mjs)
  const examples = writeReadmeExamples(
    scratch,
    join(scratch, 'node_modules'),
    listPublicPackages().map((p) => p.name),
    { repository: join(root, 'README.md') },
  );
  writeFileSync(
    join(scratch, 'types.ts'),
    `${entries.map((entry, i) => `import * as entry${i} from '${entry}';`).join('\n')}\nexport const all = [${entries.map((_, i) => `entry${i}`).join(', ')}];\n`,
  );
  writeFileSync(
    join(scratch, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ['node'],
      },
      files: ['types.ts', ...examples],
    }),
  );
  // tsc's errors in our files fail the check; others' .d.ts are reported (grammy 1.x's own types
  // import node-fetch's, so every grammy project with skipLibCheck off needs @types/node-fetch)
  const output = await run(join(scratch, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json', '--pretty', 'false'], {
    cwd: scratch,
  }).catch((error) => error.stdout ?? '');
  const errors = [...output.matchAll(/^(\S+?)\(\d+,\d+\): error (TS\d+)/gm)].map(([, file, code]) => ({ file, code }));
  const ours = errors.filter(
    (e) => e.file === 'types.ts' || examples.includes(e.file) || e.file.startsWith('node_modules/@diana/'),
  );
  if (ours.length > 0) throw new Error(`type errors in the published .d.ts or in a README example:\n${output}`);
  const others = [
    ...new Set(
      errors.map((e) =>
        e.file
          .split('/')
          .slice(0, e.file.startsWith('node_modules/@') ? 3 : 2)
          .join('/'),
      ),
    ),
  ];
  process.stdout.write(
    `release:check: ${entries.length} entry points and ${examples.length} README examples type-check with skipLibCheck false (errors in others' types: ${others.length > 0 ? others.join(', ') : 'none'})\n`,
  );
}

// Bundles scripts/release-check/bundle.mjs (every package, every dependency inside) and runs the
// bundle from a folder without node_modules: migrations, Lua and the story must be inside.
async function checkBundle(scratch, databaseUrl) {
  copyFileSync(join(root, 'scripts/release-check/bundle.mjs'), join(scratch, 'bundle.mjs'));
  const away = join(work, 'bundled');
  mkdirSync(away);
  await run(
    join(scratch, 'node_modules/.bin/esbuild'),
    [
      'bundle.mjs',
      '--bundle',
      '--platform=node',
      '--format=esm',
      '--target=node20',
      // CommonJS dependencies (ioredis) call require(): give the ES module one
      "--banner:js=import { createRequire as __dianaRequire } from 'node:module'; const require = __dianaRequire(import.meta.url);",
      // the optional peers stay out; this program does not load them
      '--external:@electric-sql/pglite',
      '--external:@electric-sql/pglite-socket',
      '--external:mongodb',
      `--outfile=${join(away, 'app.mjs')}`,
      '--log-level=warning',
    ],
    { cwd: scratch },
  );
  const redisUrl = process.env.DIANA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
  const output = await run('node', ['app.mjs', databaseUrl, redisUrl], { cwd: away });
  const result = JSON.parse(output.trim().split('\n').pop());
  const ok =
    result.sources === 7 &&
    result.embedded_sources === 7 &&
    result.applied === result.files &&
    result.files > 0 &&
    result.transport === true &&
    result.limiter.join() === 'true,true,false' &&
    result.token === 'E_SECURITY_TOKEN_REVOKED' &&
    result.user_state === 'shop' &&
    result.cache === 'v' &&
    result.story_fragments > 0 &&
    result.redis_keys_removed > 0 && // it found the run's keys (the limiter's, the slice's)
    result.redis_keys_left === 0;
  if (!ok) throw new Error(`the bundle ran but printed an unexpected result: ${output}`);
  process.stdout.write(
    `release:check: an esbuild bundle of every package ran from a folder without node_modules: ${output.trim()}\n`,
  );
}

function listPublicPackages() {
  const listed = JSON.parse(
    execFileSync('pnpm', ['-r', 'ls', '--depth', '-1', '--json'], { cwd: root, encoding: 'utf8' }),
  );
  return listed
    .filter((p) => p.private !== true && p.name?.startsWith('@diana/'))
    .map((p) => ({ name: p.name, version: p.version }));
}

function startVerdaccio(port) {
  const dir = join(work, 'verdaccio');
  mkdirSync(join(dir, 'storage'), { recursive: true });
  const config = join(dir, 'config.yaml');
  writeFileSync(
    config,
    [
      `storage: ${join(dir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(dir, 'htpasswd')}`,
      '    max_users: 10',
      'uplinks: {}',
      'packages:',
      "  '@diana/*':",
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  const child = spawn(
    join(root, 'node_modules/.bin/verdaccio'),
    ['--config', config, '--listen', `127.0.0.1:${port}`],
    {
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  child.on('exit', (code, signal) => {
    if (signal !== 'SIGTERM') process.stderr.write(`verdaccio exited early (code ${code}, signal ${signal})\n`);
  });
  return child;
}

async function waitForRegistry(registry, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(new URL('-/ping', registry)).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(`verdaccio did not answer on ${registry} within ${timeoutMs} ms`);
}

async function createUser(registry) {
  const name = 'release-check';
  const response = await fetch(new URL(`-/user/org.couchdb.user:${name}`, registry), {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password: `pw-${process.pid}-${Date.now()}` }),
  });
  const body = await response.json();
  if (!response.ok || !body.token) throw new Error(`verdaccio refused the user: ${JSON.stringify(body)}`);
  return body.token;
}

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  return port;
}
