#!/usr/bin/env node
// CI's deploy-start step: the bot as an operator ships it. `pnpm deploy:bot` builds @diana/bot
// and its packages and runs `pnpm deploy --prod` into a temporary folder; the folder must hold
// production dependencies only and every file the @diana/* packages read at run time (their
// package.json "files": migrations, Lua, story). Then it starts `node dist/main.js` there in webhook mode on the
// local PostgreSQL (a private database) and Redis (private key prefixes), against a small fake
// Bot API on loopback (no Telegram network here). It waits for `/readyz` 200, posts a /start
// update to the webhook and waits for the bot's answer, sends SIGTERM and expects exit 0; then
// the folder's operator CLI (`node dist/cli.js health --json`) on the same stores: every check ok.
// Prints one line of what it saw; exits 1 with the reason and the bot's output otherwise.
//
// DIANA_TEST_DATABASE_URL / DIANA_TEST_REDIS_URL override the local servers (as in the tests).
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readDockerfile, runtimeCommand } from './dockerfile.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADMIN_URL = process.env.DIANA_TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const REDIS_URL = process.env.DIANA_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const TAG = `diana_deploy_${process.pid}`;
const PREFIX = `${TAG}:`;
const SECRET = 'deploy-start-webhook-secret-0123456789';
// what a production folder must not hold: the workspace's build, test and tooling packages
const DEV_ONLY = ['tsx', 'tsup', 'vitest', 'vite', 'esbuild', '@biomejs', '@diana+test-services', 'turbo'];
// the Node flags of the image's CMD (`["node", <flags>, "dist/main.js"]`): the bot starts here as there
const IMAGE_NODE_FLAGS = runtimeCommand(readDockerfile(join(ROOT, 'Dockerfile')))?.slice(1, -1) ?? [];
const READY_MS = 60_000;
const EXIT_MS = 15_000;

const work = mkdtempSync(join(tmpdir(), 'diana-deploy-'));
const target = join(work, 'bot');
const cleanups = [() => rmSync(work, { recursive: true, force: true })];
let bot;
let botOutput = '';

try {
  console.log(await check());
} catch (error) {
  console.error(`deploy-start: FAILED: ${error.message}`);
  if (botOutput) console.error(`--- the bot's output ---\n${botOutput.trim().split('\n').slice(-40).join('\n')}`);
  process.exitCode = 1;
} finally {
  if (bot && bot.exitCode === null && bot.signalCode === null) bot.kill('SIGKILL');
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      console.error(`deploy-start: cleanup: ${error.message}`);
    }
  }
}

async function check() {
  run('pnpm', ['run', '--silent', 'deploy:bot', target]); // the root script operators use: build, then deploy
  const packages = checkDeployFolder();

  const database = new URL(ADMIN_URL);
  database.pathname = `/${TAG}`;
  run('psql', [ADMIN_URL, '-qc', `CREATE DATABASE ${TAG}`]);
  cleanups.push(() => run('psql', [ADMIN_URL, '-qc', `DROP DATABASE IF EXISTS ${TAG} WITH (FORCE)`]));
  cleanups.push(() => deleteRedisKeys());

  const telegram = await startFakeBotApi();
  cleanups.push(() => telegram.close());
  const port = await freePort();
  const started = performance.now();
  // only what an operator would set: nothing of this shell leaks in
  const stores = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    DIANA_DATABASE_URL: database.href,
    DIANA_REDIS_URL: REDIS_URL,
    DIANA_BOT_DATA_DIR: join(work, 'data'),
    DIANA_EVENT_BUS_STREAM_PREFIX: `${PREFIX}ev:`,
  };
  bot = spawn(process.execPath, [...IMAGE_NODE_FLAGS, 'dist/main.js'], {
    cwd: target,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...stores,
      DIANA_BOT_TELEGRAM_BOT_TOKEN: '123456:deploy-start-token',
      DIANA_BOT_TELEGRAM_API_ROOT: telegram.url,
      DIANA_BOT_WEBHOOK_URL: 'https://diana.example/telegram',
      DIANA_BOT_WEBHOOK_SECRET: SECRET,
      DIANA_BOT_HTTP_HOST: '127.0.0.1',
      DIANA_BOT_HTTP_PORT: String(port),
      DIANA_SECURITY_CALLBACK_SECRET: 'c'.repeat(40),
      DIANA_SECURITY_TOKEN_PEPPER: 'p'.repeat(40),
      DIANA_CACHE_KEY_PREFIX: `${PREFIX}cache:`,
      DIANA_SECURITY_RATE_LIMIT_PREFIX: `${PREFIX}rl:`,
      DIANA_USER_STATE_KEY_PREFIX: `${PREFIX}us:`,
    },
  });
  bot.stdout.on('data', (chunk) => (botOutput += chunk));
  bot.stderr.on('data', (chunk) => (botOutput += chunk));
  const exited = once(bot, 'exit');

  const readyAfter = await pollReady(port, exited);
  const readyMs = performance.now() - started;
  const reply = await sendStart(port, telegram);

  const stopAt = performance.now();
  bot.kill('SIGTERM');
  const [code, signal] = await Promise.race([
    exited,
    delay(EXIT_MS).then(() => {
      throw new Error(`no exit within ${EXIT_MS / 1000} s of SIGTERM`);
    }),
  ]);
  if (code !== 0) throw new Error(`SIGTERM: exit ${code ?? signal}, expected 0`);
  // a start with every backend up, one update and a SIGTERM log nothing at warn or above — but
  // that the test Redis keeps nothing on disk (it has no append-only file: said at start)
  const warnings = botOutput
    .split('\n')
    .filter((line) => /"level":"?(warn|error|fatal|40|50|60)\b/.test(line))
    .map((line) => /"msg":"([^"]*)"/.exec(line)?.[1] ?? line)
    .filter((msg) => !/^(\d+ of \d+ )?Redis (runs|masters run) without an append-only file/.test(msg));
  if (warnings.length > 0)
    throw new Error(`a healthy start, one update and SIGTERM logged warnings: ${[...new Set(warnings)].join('; ')}`);
  // the operator CLI of the same folder, on the same stores: every check ok (the bot migrated)
  let health;
  try {
    health = execFileSync(process.execPath, ['dist/cli.js', 'health', '--json'], {
      cwd: target,
      env: stores,
      encoding: 'utf8',
    });
  } catch (error) {
    throw new Error(`node dist/cli.js health: exit ${error.status}: ${String(error.stderr).trim()}`);
  }
  const checks = JSON.parse(health);
  if (checks.length !== 4 || !checks.every((c) => c.ok)) throw new Error(`node dist/cli.js health: ${health.trim()}`);
  return (
    `deploy-start: ${packages.total} packages (${packages.diana} @diana/*) deployed, no dev tooling; ` +
    `node ${[...IMAGE_NODE_FLAGS, 'dist/main.js'].join(' ')} on Node ${process.versions.node} (webhook, PostgreSQL ${TAG}, Redis): getMe+setWebhook on the fake Bot API, ` +
    `/readyz 200 after ${(readyMs / 1000).toFixed(1)} s (${readyAfter} answers before), ` +
    `/start answered "${reply.slice(0, 40).replace(/\s+/g, ' ')}…", ` +
    `SIGTERM → exit 0 in ${((performance.now() - stopAt) / 1000).toFixed(1)} s, ` +
    `node dist/cli.js health: ${checks.map((c) => c.name).join(', ')} ok, ` +
    `${warnings.length} warning/error log lines${warnings.length ? ` (${[...new Set(warnings)].join('; ')})` : ''}`
  );
}

/** The deploy folder: dist/, no dev tooling, each @diana/* package with every path of its "files". */
function checkDeployFolder() {
  for (const file of ['dist/main.js', 'dist/cli.js', 'package.json'])
    if (!existsSync(join(target, file))) throw new Error(`the deploy folder has no ${file}`);
  const store = readdirSync(join(target, 'node_modules/.pnpm'));
  const dev = store.filter((entry) => DEV_ONLY.some((name) => entry.startsWith(`${name}@`) || entry === name));
  if (dev.length > 0) throw new Error(`the deploy folder holds development packages: ${dev.join(', ')}`);
  const scope = join(target, 'node_modules/@diana');
  const names = readdirSync(scope);
  for (const name of names) {
    const manifest = JSON.parse(readFileSync(join(scope, name, 'package.json'), 'utf8'));
    for (const path of manifest.files ?? [])
      if (!existsSync(join(scope, name, path))) throw new Error(`@diana/${name} was deployed without ${path}/`);
  }
  return {
    total: store.filter((entry) => entry !== 'node_modules' && !entry.startsWith('lock')).length,
    diana: names.length,
  };
}

/** Polls /readyz until 200; fails when the bot exits or the deadline passes. Returns the non-200 answers seen. */
async function pollReady(port, exited) {
  const deadline = Date.now() + READY_MS;
  let early = 0;
  let gone = false;
  exited.then(() => (gone = true));
  for (;;) {
    if (gone) throw new Error(`the bot exited before /readyz answered 200 (exit ${bot.exitCode ?? bot.signalCode})`);
    const status = await fetch(`http://127.0.0.1:${port}/readyz`, { signal: AbortSignal.timeout(2_000) })
      .then((res) => res.status)
      .catch(() => 0);
    if (status === 200) return early;
    early++;
    if (Date.now() > deadline)
      throw new Error(`/readyz did not answer 200 within ${READY_MS / 1000} s (last ${status})`);
    await delay(200);
  }
}

/** Posts a /start to the webhook and waits for the bot's sendMessage on the fake Bot API. */
async function sendStart(port, telegram) {
  const update = {
    update_id: 1,
    message: {
      message_id: 1,
      date: Math.floor(Date.now() / 1000),
      chat: { id: 4242, type: 'private', first_name: 'Op' },
      from: { id: 4242, is_bot: false, first_name: 'Op', language_code: 'es' },
      text: '/start',
      entities: [{ type: 'bot_command', offset: 0, length: 6 }],
    },
  };
  const res = await fetch(`http://127.0.0.1:${port}/telegram`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-telegram-bot-api-secret-token': SECRET },
    body: JSON.stringify(update),
  });
  if (res.status !== 200) throw new Error(`the webhook answered ${res.status} to /start`);
  const sent = await telegram.waitFor('sendMessage', 10_000);
  for (const method of ['getMe', 'setWebhook'])
    if (!telegram.methods.includes(method)) throw new Error(`the bot never called ${method}`);
  const hook = await telegram.waitFor('setWebhook', 1_000);
  if (hook.max_connections !== 100)
    throw new Error(`setWebhook asked for max_connections ${hook.max_connections}, not the default 100`);
  return String(sent.text ?? '');
}

/** A Bot API on loopback that answers what the bot calls at start and on /start. */
async function startFakeBotApi() {
  const methods = [];
  const payloads = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const chunk of req) body += chunk;
    const method = (req.url ?? '').split('/').at(-1);
    const payload = body ? JSON.parse(body) : {};
    methods.push(method);
    payloads.push({ method, payload });
    const result =
      method === 'getMe'
        ? { id: 1, is_bot: true, first_name: 'Diana', username: 'diana_deploy_bot' }
        : method === 'sendMessage'
          ? { message_id: methods.length, date: 0, chat: { id: payload.chat_id, type: 'private' }, text: payload.text }
          : true;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, result }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    methods,
    async waitFor(method, ms) {
      const deadline = Date.now() + ms;
      for (;;) {
        const call = payloads.find((p) => p.method === method);
        if (call) return call.payload;
        if (Date.now() > deadline) throw new Error(`no ${method} on the fake Bot API within ${ms / 1000} s`);
        await delay(100);
      }
    },
    close: () =>
      new Promise((resolve) => {
        server.close(resolve);
        server.closeAllConnections();
      }),
  };
}

/** Deletes this run's Redis keys (every one under PREFIX). */
function deleteRedisKeys() {
  const keys = execFileSync('redis-cli', ['-u', REDIS_URL, '--scan', '--pattern', `${PREFIX}*`], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean);
  for (let i = 0; i < keys.length; i += 500) run('redis-cli', ['-u', REDIS_URL, 'del', ...keys.slice(i, i + 500)]);
}

/** Runs a command in the repository root; its output only when it fails. */
function run(command, args) {
  try {
    return execFileSync(command, args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    throw new Error(`${command} ${args.join(' ')} failed: ${(error.stderr || error.stdout || error.message).trim()}`);
  }
}

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function delay(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
