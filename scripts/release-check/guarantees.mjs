// Run by `pnpm release:check` in its scratch project, against the packages installed from the
// registry (never the workspace): the guarantees of issue #18, and (item 6) the cache's
// `listening`, as an outside developer would try them from the READMEs. Starts its own
// redis-server on a free port (killed and restarted for item 1). Prints one JSON line per item
// and exits 1 if any failed.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCache } from '@diana/cache';
import { createRedisCacheStore } from '@diana/cache/adapters/redis';
import { loadSettings } from '@diana/config';
import { DatabaseConfig } from '@diana/db';
import { createEventBus, defineEvents } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector } from '@diana/redis';
import { isDianaError } from '@diana/utils';
import { Redis } from 'ioredis';
import * as v from 'valibot';

const results = [];
const check = async (item, name, fn) => {
  try {
    const detail = await fn();
    results.push({ item, name, ok: true, detail });
  } catch (error) {
    results.push({ item, name, ok: false, detail: String(error?.stack ?? error) });
  }
};
const assert = (condition, message) => {
  if (!condition) throw new Error(message);
};
const until = async (test, ms, what) => {
  const deadline = Date.now() + ms;
  while (!(await test())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

const port = await new Promise((resolve) => {
  const server = createServer().listen(0, '127.0.0.1', () => {
    const { port: p } = server.address();
    server.close(() => resolve(p));
  });
});
const dir = mkdtempSync(join(tmpdir(), 'diana-guarantees-redis-'));
let redisServer;
const startRedis = async () => {
  redisServer = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'yes', '--dir', dir],
    {
      stdio: 'ignore',
    },
  );
  const probe = new Redis({ port, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => {}); // refused while the server starts: polled below
  await until(
    () =>
      probe.connect().then(
        () => true,
        () => false,
      ),
    10_000,
    'redis-server started',
  );
  probe.disconnect();
};
const killRedis = async () => {
  const exited = once(redisServer, 'exit');
  redisServer.kill('SIGKILL');
  await exited;
};
await startRedis();

const events = defineEvents({ 'scratch.happened': v.object({ n: v.number() }) });
const entries = async (prefix) => {
  const client = new Redis({ port });
  const list = await client.xrange(`${prefix}{scratch.happened}`, '-', '+');
  client.disconnect();
  return list.map(([, fields]) => JSON.parse(fields[fields.indexOf('e') + 1]).payload.n);
};

await check(1, 'a publish rejected as failed is never appended later', async () => {
  const prefix = 'g1:';
  const transport = createRedisStreamsTransport(
    { prefix, command_timeout_ms: 30_000 },
    { connector: createRedisConnector({ options: { port } }) },
  );
  const bus = createEventBus({ publish_timeout_ms: 300 }, { transport, events });
  await bus.publish('scratch.happened', { n: 0 });
  await killRedis();
  let waited = 0;
  let n = 1;
  const deadline = Date.now() + 30_000;
  while (waited < 3 && Date.now() < deadline) {
    const started = performance.now();
    const error = await bus.publish('scratch.happened', { n: n++ }).catch((e) => e);
    assert(isDianaError(error, 'E_BUS_PUBLISH_FAILED'), `publish with Redis down: ${error}`);
    if (performance.now() - started >= 250) waited++;
    await new Promise((resolve) => setImmediate(resolve));
  }
  assert(waited === 3, 'publishes never waited for the connection');
  await startRedis();
  await until(
    () =>
      bus.publish('scratch.happened', { n: 1_000 }).then(
        () => true,
        () => false,
      ),
    30_000,
    'publish after restart',
  );
  const seen = await entries(prefix);
  await bus.close({ timeout_ms: 500 });
  await transport.close();
  assert(
    JSON.stringify(seen) === '[0,1000]',
    `stream holds ${JSON.stringify(seen)} (${n - 1} publishes were rejected)`,
  );
  return `${n - 1} rejected publishes, none appended`;
});

await check(2, 'a DATABASE_URL without // is refused without its password', async () => {
  const password = 's3cret-pw';
  let error;
  try {
    loadSettings(
      { database: DatabaseConfig },
      { DATABASE_URL: `postgres:app:${password}@db.invalid/diana` },
      { env_file: false },
    );
  } catch (e) {
    error = e;
  }
  assert(isDianaError(error, 'E_CONFIG_SETTINGS_INVALID'), `loadSettings accepted it or threw ${error}`);
  const shown = `${error.message} ${JSON.stringify(error)} ${error.stack} ${String(error.cause ?? '')}`;
  assert(!shown.includes(password), 'the password is in the error');
  assert(error.message.includes('DATABASE_URL'), 'the error does not name the variable');
  return error.message; // whole: a cut one read as broken, and it is checked above to hold no password
});

await check(3, "getOrSet checks the factory's value against the schema", async () => {
  const cache = createCache(
    { key_prefix: 'g3:' },
    { store: createRedisCacheStore({ key_prefix: 'g3:' }, { connector: createRedisConnector({ options: { port } }) }) },
  );
  const schema = v.object({ n: v.number() });
  const error = await cache.getOrSet('k', async () => ({ n: 'not a number' }), { schema }).catch((e) => e);
  assert(isDianaError(error, 'E_CACHE_SCHEMA'), `getOrSet returned or threw ${JSON.stringify(error)}`);
  const client = new Redis({ port });
  const stored = await client.keys('g3:*');
  client.disconnect();
  const other = createCache(
    { key_prefix: 'g3:' },
    { store: createRedisCacheStore({ key_prefix: 'g3:' }, { connector: createRedisConnector({ options: { port } }) }) },
  );
  const read = await other.get('k');
  await cache.close();
  await other.close();
  assert(stored.length === 0 && read === undefined, `stored: ${stored.join(',')}; another process read ${read}`);
  return 'E_CACHE_SCHEMA, nothing stored';
});

await check(4, 'nothing keeps the process alive after close (block_ms 5 000)', async () => {
  const program = join(process.cwd(), 'close-exit.mjs');
  writeFileSync(
    program,
    `import { createEventBus, defineEvents } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector } from '@diana/redis';
import * as v from 'valibot';
const events = defineEvents({ 'scratch.happened': v.object({ n: v.number() }) });
const transport = createRedisStreamsTransport({ prefix: 'g4:' }, { connector: createRedisConnector({ options: { port: ${port} } }) });
const bus = createEventBus({ block_ms: 5000 }, { transport, events });
bus.subscribe('closing', 'scratch.happened', () => {});
bus.subscribe('scratch.happened', () => {}, { mode: 'broadcast' });
while ((await bus.health()).groups.length < 1) await new Promise((r) => setTimeout(r, 50));
await new Promise((r) => setTimeout(r, 500));
const t0 = performance.now();
await bus.close({ timeout_ms: 3000 });
await transport.close();
console.log(JSON.stringify({ close_ms: Math.round(performance.now() - t0) }));
`,
  );
  const started = performance.now();
  const child = spawn(process.execPath, [program], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
  });
  const [code] = await once(child, 'exit');
  const total = performance.now() - started;
  const { close_ms } = JSON.parse(out.trim().split('\n').pop());
  assert(code === 0, `exit code ${code}`);
  assert(close_ms < 2_500, `close took ${close_ms} ms`);
  return `close ${close_ms} ms, whole program ${Math.round(total)} ms`;
});

await check(5, 'a consumer restarted under its name takes back its own pending entries at once', async () => {
  const prefix = 'g5:';
  const config = { block_ms: 100, claim_idle_ms: 600_000, handler_timeout_ms: 120_000 };
  const transport = createRedisStreamsTransport({ prefix }, { connector: createRedisConnector({ options: { port } }) });
  const first = createEventBus(config, { transport, events, consumer_name: 'same' });
  let started = 0;
  first.subscribe('own', 'scratch.happened', async (_e, ctx) => {
    started++;
    await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
    throw new Error('stopped');
  });
  await until(async () => (await first.health()).groups.length === 1, 10_000, 'group created');
  for (let n = 0; n < 10; n++) await first.publish('scratch.happened', { n });
  await until(() => started === 10, 10_000, 'ten handlers running');
  await first.close({ timeout_ms: 50 });
  const again = createEventBus(config, { transport, events, consumer_name: 'same' });
  const handled = new Set();
  const t0 = performance.now();
  again.subscribe('own', 'scratch.happened', (e) => void handled.add(e.payload.n));
  await until(() => handled.size === 10, 15_000, 'own pending entries handled (claim_idle_ms is 600 s)');
  const ms = Math.round(performance.now() - t0);
  await again.close({ timeout_ms: 500 });
  await transport.close();
  return `10 entries back in ${ms} ms`;
});

await check(6, 'a cache says when it hears invalidations, and keeps memory copies from then on', async () => {
  const make = () =>
    createCache(
      { key_prefix: 'g6:' },
      {
        store: createRedisCacheStore({ key_prefix: 'g6:' }, { connector: createRedisConnector({ options: { port } }) }),
      },
    );
  const a = make();
  const b = make();
  // its SUBSCRIBE cannot have been answered yet: no round trip has run since it was made
  assert(b.stats().listening === false, 'listening before its subscription was answered');
  const t0 = performance.now();
  await until(() => a.stats().listening && b.stats().listening, 5_000, 'both caches listening');
  const ms = Math.round(performance.now() - t0);
  await a.set('k', 1);
  assert((await b.get('k')) === 1 && (await b.get('k')) === 1, 'B did not read what A set');
  const { l1_hits, l2_hits } = b.stats();
  assert(l1_hits === 1 && l2_hits === 1, `B: ${l2_hits} Redis hits, ${l1_hits} memory hits (want 1 and 1)`);
  await a.delete('k');
  await until(async () => (await b.get('k')) === undefined, 5_000, "B dropping its copy on A's delete");
  await a.close();
  await b.close();
  return `listening after ${ms} ms; a memory copy from then on, dropped on another process's delete`;
});

await killRedis();
rmSync(dir, { recursive: true, force: true }); // its AOF files
for (const result of results) console.log(JSON.stringify(result));
process.exit(results.every((r) => r.ok) && results.length === 6 ? 0 : 1);
