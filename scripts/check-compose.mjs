#!/usr/bin/env node
// Part of `pnpm lint`: docker-compose.yml and the Dockerfile checked by reading them (no Docker
// engine runs here). The compose images are pinned to the versions the tests run against (the
// PostgreSQL major and the Redis major.minor of this machine's `psql -V` and
// `redis-server --version`); the bot service is built from the Dockerfile, gets the settings it
// cannot start without, and waits for healthy PostgreSQL and Redis; the Dockerfile is
// multi-stage, on one pinned Node image that satisfies `engines` and whose major CI tests (the
// machine's Node or one of `.ci/run`'s NODE_MORE passes), and runs `node dist/main.js` (exec form,
// Node flags allowed before the file) as a user other than root. YAML is parsed by python3's
// PyYAML (no YAML parser in the workspace).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDockerfile, runtimeCommand } from './dockerfile.mjs';

// the repository root, or another directory holding the same files (to try the check on a changed copy)
const ROOT = resolve(process.argv[2] ?? fileURLToPath(new URL('..', import.meta.url)));
const COMPOSE = join(ROOT, 'docker-compose.yml');
// Each setting the bot needs in compose, by any of its names (@diana/config: DIANA_<SECTION>_<KEY>
// or the alias in SETTINGS_ALIASES). Without the secrets a bot on a database URL refuses to start.
const REQUIRED_ENV = [
  ['DATABASE_URL', 'DIANA_DATABASE_URL'],
  ['REDIS_URL', 'DIANA_REDIS_URL'],
  ['TELEGRAM_BOT_TOKEN', 'DIANA_BOT_TELEGRAM_BOT_TOKEN'],
  ['DIANA_SECURITY_CALLBACK_SECRET'],
  ['DIANA_SECURITY_TOKEN_PEPPER'],
];

const problems = [];
const fail = (message) => problems.push(message);

const compose = parseYaml(COMPOSE);
const services = compose?.services ?? {};
const seen = checkImages(services);
const bot = checkBotService(services);
const docker = bot ? checkDockerfile(bot.dockerfile) : undefined;
checkDockerignore();

if (problems.length > 0) {
  for (const problem of problems) console.error(`check-compose: ${problem}`);
  process.exit(1);
}
console.log(
  `check-compose: ${seen.join(', ')}; bot: ${docker.stages} stages on ${docker.image}, USER ${docker.user}, ` +
    `env ${REQUIRED_ENV.map((names) => names[0]).join(' ')}, depends_on ${bot.dependsOn.join('+')} healthy`,
);

/** Every pulled image pinned to a version; PostgreSQL and Redis to the ones the tests run against. */
function checkImages(all) {
  const ci = localVersions();
  const out = [];
  for (const [name, service] of Object.entries(all)) {
    if (!service.image || service.build) continue; // a built service's image is the name of its build
    const [repo, tag = ''] = service.image.split(':');
    if (!/^\d/.test(tag)) fail(`service ${name}: image ${service.image} is not pinned to a version`);
    const want = repo === 'postgres' ? ci.postgres : repo === 'redis' ? ci.redis : undefined;
    if (want?.tag && tag !== want.tag && !tag.startsWith(`${want.tag}.`) && !tag.startsWith(`${want.tag}-`))
      fail(
        `service ${name}: image ${service.image}, but the tests run on ${repo} ${want.version} (want ${repo}:${want.tag})`,
      );
    out.push(want?.version ? `${service.image} (tests: ${want.version})` : service.image);
  }
  for (const name of ['postgres', 'redis']) if (!all[name]) fail(`no ${name} service`);
  return out;
}

/** The bot service: build from a Dockerfile that exists, the required settings, healthy dependencies. */
function checkBotService(all) {
  const bot = all.bot;
  if (!bot) return void fail('no bot service');
  const build = typeof bot.build === 'string' ? { context: bot.build } : bot.build;
  if (!build?.context) return void fail('service bot: no build context');
  const dockerfile = resolve(ROOT, build.context, build.dockerfile ?? 'Dockerfile');
  if (!existsSync(dockerfile)) fail(`service bot: its Dockerfile ${dockerfile} does not exist`);
  const env = Array.isArray(bot.environment)
    ? Object.fromEntries(bot.environment.map((line) => [line.split('=')[0], line.split('=').slice(1).join('=')]))
    : (bot.environment ?? {});
  for (const names of REQUIRED_ENV)
    if (!names.some((name) => name in env)) fail(`service bot: no ${names.join(' or ')} in environment`);
  for (const [names, service] of [
    [REQUIRED_ENV[0], 'postgres'],
    [REQUIRED_ENV[1], 'redis'],
  ]) {
    const value = names.map((name) => env[name]).find(Boolean);
    if (value && !String(value).includes(`@${service}:`) && !String(value).includes(`//${service}:`))
      fail(`service bot: ${names[0]} does not point at the ${service} service (${value})`);
  }
  const dependsOn = Array.isArray(bot.depends_on)
    ? Object.fromEntries(bot.depends_on.map((name) => [name, {}]))
    : (bot.depends_on ?? {});
  for (const name of ['postgres', 'redis']) {
    if (dependsOn[name]?.condition !== 'service_healthy')
      fail(`service bot: depends_on ${name} without condition service_healthy`);
    if (!all[name]?.healthcheck) fail(`service ${name}: no healthcheck (the bot waits for it to be healthy)`);
  }
  return { dockerfile, dependsOn: Object.keys(dependsOn) };
}

/** Multi-stage, one pinned Node image satisfying `engines`, a non-root USER, `node dist/main.js`. */
function checkDockerfile(path) {
  if (!existsSync(path)) return { stages: 0, image: '?', user: '?' };
  const stages = readDockerfile(path);
  if (stages.length < 2) fail(`Dockerfile: ${stages.length} stage(s); the build and the runtime are separate stages`);
  const final = stages.at(-1) ?? { image: '?', lines: [] };
  const nodeImages = new Set(stages.map((stage) => stage.image).filter((image) => image.startsWith('node:')));
  if (nodeImages.size !== 1) fail(`Dockerfile: build and runtime on different Node images (${[...nodeImages]})`);
  const version = /^node:(\d+)\.(\d+)\.(\d+)-/.exec(final.image);
  const engines = /^>=(\d+)\.(\d+)$/.exec(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).engines.node);
  if (!version) fail(`Dockerfile: the runtime image ${final.image} is not node:<x.y.z>-…`);
  else if (engines && (+version[1] < +engines[1] || (+version[1] === +engines[1] && +version[2] < +engines[2])))
    fail(`Dockerfile: ${final.image} is older than engines.node >=${engines[1]}.${engines[2]}`);
  else {
    // the image's Node major is one CI runs the tests on: the machine's, or a NODE_MORE pass
    const ci = join(ROOT, '.ci', 'run');
    const more = existsSync(ci) ? (/^NODE_MORE=\(([^)]*)\)/m.exec(readFileSync(ci, 'utf8'))?.[1] ?? '') : '';
    const tested = new Set([process.versions.node.split('.')[0], ...more.split(/\s+/).filter(Boolean)]);
    if (!tested.has(version[1]))
      fail(`Dockerfile: ${final.image} is Node ${version[1]}, which CI does not test (Node ${[...tested].join(', ')})`);
  }
  const user = final.lines.filter((line) => line.instruction === 'USER').at(-1)?.args;
  if (!user || /^(root|0)(:|$)/.test(user)) fail(`Dockerfile: the runtime stage runs as ${user ?? 'root (no USER)'}`);
  // exec form, so that docker stop's SIGTERM reaches node itself; Node flags may come before the file
  const cmd = runtimeCommand(stages);
  if (cmd?.[0] !== 'node' || cmd.at(-1) !== 'dist/main.js' || !cmd.slice(1, -1).every((a) => a.startsWith('--')))
    fail('Dockerfile: the runtime stage does not run ["node", <Node flags>, "dist/main.js"] (exec form)');
  return { stages: stages.length, image: final.image, user };
}

function checkDockerignore() {
  const path = join(ROOT, '.dockerignore');
  if (!existsSync(path)) return fail('no .dockerignore (the build context would carry node_modules and .git)');
  const entries = readFileSync(path, 'utf8').split('\n');
  for (const wanted of ['.git', '**/node_modules'])
    if (!entries.includes(wanted)) fail(`.dockerignore does not list ${wanted}`);
}

/** The versions the tests run against: PostgreSQL's major, Redis's major.minor, from the local binaries. */
function localVersions() {
  const postgres = /(\d+)\.(\d+)/.exec(tryRun('psql', ['-V']) ?? '');
  const redis = /v=(\d+)\.(\d+)\.(\d+)/.exec(tryRun('redis-server', ['--version']) ?? '');
  if (!postgres) fail('psql -V gave no version: cannot tell which PostgreSQL the tests run on');
  if (!redis) fail('redis-server --version gave no version: cannot tell which Redis the tests run on');
  return {
    postgres: postgres ? { tag: postgres[1], version: `${postgres[1]}.${postgres[2]}` } : undefined,
    redis: redis ? { tag: `${redis[1]}.${redis[2]}`, version: `${redis[1]}.${redis[2]}.${redis[3]}` } : undefined,
  };
}

function parseYaml(path) {
  const program = 'import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)';
  try {
    return JSON.parse(
      execFileSync('python3', ['-c', program, path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }),
    );
  } catch (error) {
    const reason = (error.stderr || error.message).trim().split('\n').slice(-3).join(' ');
    console.error(`check-compose: cannot parse ${path} with python3's PyYAML: ${reason}`);
    process.exit(1);
  }
}

function tryRun(command, args) {
  try {
    return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch {
    return undefined;
  }
}
