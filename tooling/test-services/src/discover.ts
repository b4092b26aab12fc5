import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import postgres from '@diana/postgres';
import { Redis } from 'ioredis';

const run = promisify(execFile);

/** What the finder looks for, in order. */
interface ServiceSpec {
  readonly name: 'PostgreSQL' | 'Redis';
  readonly envVar: string;
  readonly localUrl: string;
  readonly composeService: string;
  readonly startHint: string;
  readonly probe: (url: string) => Promise<void>;
}

const POSTGRES: ServiceSpec = {
  name: 'PostgreSQL',
  envVar: 'DIANA_TEST_DATABASE_URL',
  localUrl: 'postgres://postgres@127.0.0.1:5432/postgres',
  composeService: 'postgres',
  startHint: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  probe: probePostgres,
};

const REDIS: ServiceSpec = {
  name: 'Redis',
  envVar: 'DIANA_TEST_REDIS_URL',
  localUrl: 'redis://127.0.0.1:6379',
  composeService: 'redis',
  startHint: 'redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save ""',
  probe: probeRedis,
};

const found = new Map<string, Promise<string>>();

/** URL of a PostgreSQL server for tests (an admin connection to an existing database). */
export function getPostgresUrl(): Promise<string> {
  return memo(POSTGRES);
}

/** URL of a Redis server for tests. */
export function getRedisUrl(): Promise<string> {
  return memo(REDIS);
}

/** The MongoDB URL when one is configured; Mongo tests run only then. */
export function getMongoUrl(): string | undefined {
  return process.env.MONGODB_URL || process.env.DIANA_TEST_MONGODB_URL || undefined;
}

/** The repository root (where pnpm-workspace.yaml is). */
export function getRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'pnpm-workspace.yaml'))) {
    const parent = dirname(dir);
    if (parent === dir) throw new Error('test-services: cannot find the repository root');
    dir = parent;
  }
  return dir;
}

function memo(spec: ServiceSpec): Promise<string> {
  let pending = found.get(spec.name);
  if (!pending) {
    pending = discover(spec);
    found.set(spec.name, pending);
  }
  return pending;
}

// Order: the DIANA_TEST_* URL → the local default port → `docker compose up -d --wait` when
// a Docker engine answers → one error saying what to start.
async function discover(spec: ServiceSpec): Promise<string> {
  const tried: string[] = [];
  const fromEnv = process.env[spec.envVar];
  if (fromEnv) {
    const failure = await attempt(spec, fromEnv);
    if (failure === undefined) return fromEnv;
    // An explicit URL that does not answer is an error: falling back would test something else.
    throw new Error(`${spec.name} for tests: ${spec.envVar}=${redact(fromEnv)} does not answer (${failure})`);
  }
  tried.push(`${spec.envVar} (unset)`);
  const localFailure = await attempt(spec, spec.localUrl);
  if (localFailure === undefined) return spec.localUrl;
  tried.push(`${spec.localUrl} (${localFailure})`);
  if (await dockerAnswers()) {
    await run(
      'docker',
      ['compose', '-f', join(getRepoRoot(), 'docker-compose.yml'), 'up', '-d', '--wait', spec.composeService],
      {
        timeout: 180_000,
      },
    );
    const composeFailure = await attempt(spec, spec.localUrl);
    if (composeFailure === undefined) return spec.localUrl;
    tried.push(`docker compose service ${spec.composeService} (${composeFailure})`);
  } else {
    tried.push('docker compose (no Docker engine answers)');
  }
  throw new Error(
    `No ${spec.name} for tests. Tried: ${tried.join('; ')}. ` +
      `Start one (e.g. \`${spec.startHint}\`) or set ${spec.envVar}.`,
  );
}

async function attempt(spec: ServiceSpec, url: string): Promise<string | undefined> {
  try {
    await spec.probe(url);
    return undefined;
  } catch (error) {
    return error instanceof Error ? ((error as NodeJS.ErrnoException).code ?? error.message) : String(error);
  }
}

async function probePostgres(url: string): Promise<void> {
  const sql = postgres(url, { max: 1, connect_timeout: 3, onnotice: () => {} });
  try {
    await sql`select 1`;
  } finally {
    await sql.end({ timeout: 1 });
  }
}

async function probeRedis(url: string): Promise<void> {
  const client = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 3000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.ping();
  } finally {
    client.disconnect();
  }
}

async function dockerAnswers(): Promise<boolean> {
  try {
    await run('docker', ['info', '--format', '{{.ServerVersion}}'], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

function redact(url: string): string {
  return url.replace(/:\/\/([^:@/]*):[^@/]*@/, '://$1:***@');
}
