import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

/** Options of `startRedis`. */
export interface StartRedisOptions {
  /** Turn the append-only file on (durability tests). @default false */
  readonly appendonly?: boolean;
  /** AOF fsync policy. @default 'everysec' */
  readonly appendfsync?: 'always' | 'everysec' | 'no';
  /** More `redis-server` arguments, e.g. `['--maxmemory', '10mb']`. */
  readonly args?: readonly string[];
  /** Milliseconds to wait for the server to answer PING. @default 10_000 */
  readonly start_timeout_ms?: number;
}

/** A private `redis-server` for chaos tests: kill it, restart it, compare run ids. */
export interface RedisServer {
  readonly url: string;
  readonly port: number;
  /** Its data directory (AOF files live here). */
  readonly dir: string;
  /** Pid of the current process, or undefined while it is down. */
  readonly pid: number | undefined;
  /** Sends `signal` (default SIGKILL) and waits until the process has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** A clean `SHUTDOWN` (the AOF is flushed); waits until the process has exited. */
  shutdown(): Promise<void>;
  /** Starts the server again on the same port and data directory; waits until it answers. */
  restart(): Promise<void>;
  /** SIGSTOP: the server stops answering but keeps its connections. */
  pause(): void;
  /** SIGCONT after `pause`. */
  resume(): void;
  /** The server's `run_id`, which changes on every start. */
  runId(): Promise<string>;
  /** Stops the server and removes its data directory. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a private `redis-server` on a free loopback port with `--enable-debug-command local`. */
export async function startRedis(options: StartRedisOptions = {}): Promise<RedisServer> {
  const dir = mkdtempSync(join(tmpdir(), 'diana-redis-'));
  // who started it: a server whose owner is gone is stopped by @diana/vitest-config's sweep
  writeFileSync(join(dir, 'owner'), String(process.pid));
  const timeout = options.start_timeout_ms ?? 10_000;
  let port = 0;
  let child: ChildProcess | undefined;

  const args = () => [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    options.appendonly ? 'yes' : 'no',
    '--appendfsync',
    options.appendfsync ?? 'everysec',
    '--enable-debug-command',
    'local',
    '--daemonize',
    'no',
    '--logfile',
    join(dir, 'redis.log'),
    '--pidfile',
    join(dir, 'redis.pid'),
    ...(options.args ?? []),
  ];

  const launch = async (): Promise<void> => {
    const proc = spawn('redis-server', args(), { stdio: 'ignore' });
    child = proc;
    proc.on('exit', () => {
      if (child === proc) child = undefined;
    });
    await waitForPing(port, proc, timeout);
  };

  // A free port can be taken by another test between our probe and the server's bind: retry.
  for (let tries = 1; ; tries++) {
    port = await freePort();
    try {
      await launch();
      break;
    } catch (error) {
      if (tries >= 5) throw error;
    }
  }

  const waitExit = async (proc: ChildProcess | undefined) => {
    if (proc && proc.exitCode === null && proc.signalCode === null) await once(proc, 'exit');
  };

  const server: RedisServer = {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    get pid() {
      return child?.pid;
    },
    async kill(signal = 'SIGKILL') {
      const proc = child;
      if (!proc) return;
      if (signal === 'SIGKILL' || signal === 'SIGTERM') proc.kill('SIGCONT');
      proc.kill(signal);
      await waitExit(proc);
    },
    async shutdown() {
      const proc = child;
      if (!proc) return;
      const client = direct(port);
      try {
        await client.connect();
        await client.call('SHUTDOWN').catch(() => {});
      } finally {
        client.disconnect();
      }
      await waitExit(proc);
    },
    async restart() {
      if (child) await server.kill('SIGKILL');
      await launch();
    },
    pause() {
      child?.kill('SIGSTOP');
    },
    resume() {
      child?.kill('SIGCONT');
    },
    async runId() {
      const client = direct(port);
      try {
        await client.connect();
        const info = String(await client.call('INFO', 'server'));
        const match = /run_id:([0-9a-f]+)/.exec(info);
        if (!match?.[1]) throw new Error('redis INFO has no run_id');
        return match[1];
      } finally {
        client.disconnect();
      }
    },
    async stop() {
      // a fork of the server's (an AOF rewrite, a snapshot) outlives its SIGKILL and goes on
      // writing in the directory: killed too, and the removal retried while a write lands
      // (a CI run's rm met "directory not empty" after CONFIG SET appendonly yes)
      const forks = child?.pid === undefined ? [] : forksOf(child.pid);
      await server.kill('SIGKILL');
      for (const pid of forks) killQuietly(pid);
      rmSync(dir, { recursive: true, force: true, maxRetries: 20, retryDelay: 50 });
    },
    [Symbol.asyncDispose]: () => server.stop(),
  };
  return server;
}

/** The processes `pid` forked (Linux's /proc; none elsewhere). */
function forksOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

function killQuietly(pid: number) {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

function direct(port: number): Redis {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    connectTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  return client;
}

async function waitForPing(port: number, proc: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null || proc.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited during start (code ${proc.exitCode})`);
    }
    const client = direct(port);
    try {
      await client.connect();
      // While loading the AOF, Redis answers PING with -LOADING: not ready yet.
      if ((await client.ping()) === 'PONG') return;
    } catch (error) {
      lastError = error;
    } finally {
      client.disconnect();
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  proc.kill('SIGKILL');
  throw new Error(`redis-server on port ${port} did not answer within ${timeoutMs} ms: ${String(lastError)}`);
}
