import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import postgres from '@diana/postgres';
import { getPostgresUrl } from './discover.js';
import { freePort } from './ports.js';

/** Options of `startPgBouncer`. */
export interface StartPgBouncerOptions {
  /** The PostgreSQL server to pool for. @default the test server (`getPostgresUrl()`) */
  readonly server_url?: string;
  /** @default 'transaction' */
  readonly pool_mode?: 'session' | 'transaction' | 'statement';
  /** Server connections per database and user. @default 20 */
  readonly default_pool_size?: number;
  /** More `[pgbouncer]` settings, e.g. `{ query_timeout: 5 }`. */
  readonly settings?: Readonly<Record<string, string | number>>;
  /** Milliseconds to wait for the pooler to answer a query. @default 10_000 */
  readonly start_timeout_ms?: number;
}

/** A private PgBouncer on a free loopback port in front of the test PostgreSQL. */
export interface PgBouncer {
  readonly port: number;
  /** Its directory (ini and auth file). */
  readonly dir: string;
  readonly pool_mode: 'session' | 'transaction' | 'statement';
  /** A URL of `database` through the pooler, with `?pgbouncer=true` (what `@diana/db` reads as `pooler: transaction`). */
  urlFor(database: string): string;
  /** What the pooler logged so far (its stderr). */
  log(): string;
  /** Stops the pooler (SIGINT: immediate shutdown), waits for it to exit and removes its directory. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

// Runs PgBouncer under a shell that stops it (SIGINT: immediate shutdown) when its stdin — a
// pipe from this process — closes: on stop(), and when the test process dies without one.
const GUARD = 'exec 3<&0; "$0" "$@" </dev/null & pid=$!; (read _ <&3; kill -INT $pid 2>/dev/null) & wait $pid';

/** Where the distribution installs PgBouncer (`/usr/sbin` is not on every PATH). */
const PLACES = ['/usr/sbin', '/usr/bin', '/usr/local/bin'];

/** The PgBouncer binary of this machine (the distribution's places, then PATH), or undefined. */
export function findPgBouncer(): string | undefined {
  const dirs = [...PLACES, ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)];
  return dirs.map((dir) => join(dir, 'pgbouncer')).find((path) => existsSync(path));
}

/**
 * Starts PgBouncer in `pool_mode` (transaction by default) with a `*` wildcard to the server,
 * so every test database is reachable through it, trust auth for the server's user, and waits
 * until a query through it succeeds. Run as root, it drops to the `postgres` user (PgBouncer
 * refuses to run as root).
 */
export async function startPgBouncer(options: StartPgBouncerOptions = {}): Promise<PgBouncer> {
  const server = new URL(options.server_url ?? (await getPostgresUrl()));
  const user = decodeURIComponent(server.username || 'postgres');
  const poolMode = options.pool_mode ?? 'transaction';
  const timeout = options.start_timeout_ms ?? 10_000;
  const binary = findPgBouncer() ?? 'pgbouncer';
  const dir = mkdtempSync(join(tmpdir(), 'diana-pgbouncer-'));
  const runAs = process.getuid?.() === 0 ? 'postgres' : undefined;
  let port = 0;
  let child: ChildProcess | undefined;
  let stderr = '';

  const launch = async (): Promise<void> => {
    writeConfig(dir, {
      server,
      user,
      port,
      poolMode,
      poolSize: options.default_pool_size ?? 20,
      extra: options.settings ?? {},
    });
    if (runAs) giveTo(dir, runAs);
    const proc = spawn('sh', ['-c', GUARD, binary, ...(runAs ? ['-u', runAs] : []), join(dir, 'pgbouncer.ini')], {
      stdio: ['pipe', 'ignore', 'pipe'],
    });
    proc.stderr?.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-65_536);
    });
    child = proc;
    proc.on('exit', () => {
      if (child === proc) child = undefined;
    });
    await waitForQuery(
      `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/postgres`,
      proc,
      timeout,
      () => stderr,
    );
  };

  // A free port can be taken by another test between our probe and the pooler's bind: retry.
  for (let tries = 1; ; tries++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      if (tries >= 5) {
        rmSync(dir, { recursive: true, force: true });
        throw error;
      }
    }
  }

  const stop = async () => {
    const proc = child;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      const exited = once(proc, 'exit');
      proc.stdin?.end(); // the guard stops PgBouncer (SIGINT) and exits with it
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  };

  return {
    port,
    dir,
    pool_mode: poolMode,
    urlFor: (database) =>
      `postgres://${encodeURIComponent(user)}@127.0.0.1:${port}/${encodeURIComponent(database)}?pgbouncer=true`,
    log: () => stderr,
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

interface IniInput {
  readonly server: URL;
  readonly user: string;
  readonly port: number;
  readonly poolMode: string;
  readonly poolSize: number;
  readonly extra: Readonly<Record<string, string | number>>;
}

function writeConfig(dir: string, input: IniInput): void {
  const serverHost = input.server.hostname || '127.0.0.1';
  const serverPort = input.server.port || '5432';
  // a server that wants a password gets it from the pooler (clients authenticate by trust)
  const login = input.server.password
    ? ` user=${input.user} password=${decodeURIComponent(input.server.password)}`
    : '';
  const settings: Record<string, string | number> = {
    listen_addr: '127.0.0.1',
    listen_port: input.port,
    unix_socket_dir: '',
    auth_type: 'trust',
    auth_file: join(dir, 'userlist.txt'),
    pool_mode: input.poolMode,
    default_pool_size: input.poolSize,
    max_client_conn: 1000,
    admin_users: input.user,
    // no ignore_startup_parameters: as strict as a default PgBouncer, so a startup parameter a
    // pool should not send (statement_timeout, pgbouncer=true) fails the test
    server_login_retry: 1,
    ...input.extra,
  };
  const lines = [
    '[databases]',
    `* = host=${serverHost} port=${serverPort}${login}`,
    '',
    '[pgbouncer]',
    ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`),
    '',
  ];
  writeFileSync(join(dir, 'pgbouncer.ini'), lines.join('\n'));
  // trust auth: the user must still be listed
  writeFileSync(join(dir, 'userlist.txt'), `"${input.user}" ""\n`);
}

function giveTo(dir: string, user: string): void {
  const uid = Number(execFileSync('id', ['-u', user]).toString().trim());
  const gid = Number(execFileSync('id', ['-g', user]).toString().trim());
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o700);
  for (const file of ['pgbouncer.ini', 'userlist.txt']) {
    chownSync(join(dir, file), uid, gid);
    chmodSync(join(dir, file), 0o600);
  }
}

async function waitForQuery(url: string, proc: ChildProcess, timeoutMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`pgbouncer exited during start (code ${proc.exitCode}): ${log().slice(-2_000)}`);
    }
    const sql = postgres(url, { max: 1, connect_timeout: 2, prepare: false, fetch_types: false, onnotice: () => {} });
    try {
      await sql`select 1`;
      return;
    } catch (error) {
      lastError = error;
    } finally {
      await sql.end({ timeout: 1 });
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  proc.stdin?.end();
  throw new Error(`pgbouncer did not answer within ${timeoutMs} ms: ${String(lastError)}; log: ${log().slice(-2_000)}`);
}
