// A private Redis Cluster for tests: start (3 masters + 3 replicas on free ports), health, failover
// (manual and SIGKILL), pause/resume, revive, stop. Over 300 lines because every operation waits on
// the same view of the cluster (CLUSTER NODES parsed once here) and the process bookkeeping.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './ports.js';

/** One node's address. */
export interface ClusterNodeAddress {
  readonly host: string;
  readonly port: number;
}

/** Options of `startRedisCluster`. */
export interface StartRedisClusterOptions {
  /** @default 3 */
  readonly masters?: number;
  /** Replicas per master. @default 1 */
  readonly replicas?: number;
  /** `cluster-node-timeout`: how soon a silent master is failed over. @default 1_500 */
  readonly node_timeout_ms?: number;
  /** More `redis-server` arguments for every node. */
  readonly args?: readonly string[];
  /** Milliseconds to wait for the cluster to be healthy. @default 30_000 */
  readonly start_timeout_ms?: number;
}

/** What `failover` did. */
export interface FailoverResult {
  /** The master that was failed over (a replica after `manual`; dead after `kill`). */
  readonly old_master: ClusterNodeAddress;
  /** Its replica, master now. */
  readonly new_master: ClusterNodeAddress;
  /** Milliseconds from the fault until every live node reported `cluster_state:ok` with the new master. */
  readonly took_ms: number;
}

/** A Redis Cluster for tests: private (started here) or the one `DIANA_TEST_REDIS_CLUSTER_NODES` names. */
export interface RedisCluster {
  /** Every node as started (seed nodes for a client); a killed node stays listed. */
  readonly nodes: readonly ClusterNodeAddress[];
  /** True when this process started the nodes (only then can `failover({ mode: 'kill' })` and `revive` run). */
  readonly private: boolean;
  /** The masters that serve slots now, by port. */
  masters(): Promise<ClusterNodeAddress[]>;
  /** The node serving `slot` now (`CLUSTER KEYSLOT` gives a key's slot). */
  masterOf(slot: number): Promise<ClusterNodeAddress>;
  /**
   * Fails the master on `master_port` over to one of its replicas: `manual` runs `CLUSTER
   * FAILOVER` on the replica (no write is lost); `kill` sends SIGKILL to the master and waits for
   * the cluster to promote the replica. Resolves when the replica is master and every live node
   * reports `cluster_state:ok`.
   */
  failover(master_port: number, options: { readonly mode: 'manual' | 'kill' }): Promise<FailoverResult>;
  /** SIGSTOP of the node on `port`: it stops answering but keeps its connections (fails over after `node_timeout_ms`). */
  pause(port: number): void;
  /** SIGCONT after `pause`. */
  resume(port: number): void;
  /** Starts a killed node again (same port and `nodes.conf`); waits until it has rejoined and synced as a replica. */
  revive(port: number): Promise<void>;
  /** Waits until every live node reports `cluster_state:ok`, all slots are served and replicas are synced. */
  waitHealthy(timeout_ms?: number): Promise<void>;
  /** Stops the nodes this process started and removes their directories (nothing for a given cluster). */
  stop(): Promise<void>;
  /** The folder of a private cluster's node directories (undefined for a given cluster). */
  readonly dir: string | undefined;
  [Symbol.asyncDispose](): Promise<void>;
}

const FOLDER_PREFIX = 'diana-redis-cluster-';
/** Folders of private clusters older than this are left from a test process that was killed. */
const STALE_AFTER_MS = 2 * 60 * 60 * 1000;

// Runs redis-server under a shell that stops it (SIGINT) when its stdin — a pipe from this
// process — closes: on stop(), and when the test process dies without one, so no node outlives it.
const GUARD = 'exec 3<&0; "$0" "$@" </dev/null & pid=$!; (read _ <&3; kill -INT $pid 2>/dev/null) & wait $pid';

interface OwnNode {
  port: number;
  dir: string;
  guard: ChildProcess | undefined;
  pid: number | undefined;
}

/**
 * Starts `masters` × (1 + `replicas`) `redis-server --cluster-enabled yes` on free loopback ports
 * (no persistence, `cluster-replica-validity-factor 0` so a replica is always promoted), joins
 * them with `redis-cli --cluster create`, and waits until the cluster is healthy.
 */
export async function startRedisCluster(options: StartRedisClusterOptions = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 1;
  const timeout = options.start_timeout_ms ?? 30_000;
  sweepStale();
  const root = mkdtempSync(join(tmpdir(), FOLDER_PREFIX));
  // Removes the folder when this process's pipe to it closes: on stop(), or when the process
  // exits without one (the nodes stop through their own guards meanwhile). A node still stopping
  // writes its nodes.conf and log into it, and an `rm -rf` that raced such a write left the folder
  // behind (two after each full test pass): it is tried again each second, for up to 20 s.
  const janitor = spawn(
    'sh',
    ['-c', 'read _; for _ in $(seq 20); do sleep 1; rm -rf "$0" 2>/dev/null; [ -e "$0" ] || exit 0; done', root],
    { stdio: ['pipe', 'ignore', 'ignore'] },
  );
  janitor.unref();
  (janitor.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  const own: OwnNode[] = [];

  const launch = async (node: OwnNode) => {
    const args = [
      '--port',
      String(node.port),
      '--bind',
      '127.0.0.1',
      '--dir',
      node.dir,
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      String(options.node_timeout_ms ?? 1_500),
      '--cluster-replica-validity-factor',
      '0',
      '--save',
      '',
      '--appendonly',
      'no',
      '--enable-debug-command',
      'local',
      '--logfile',
      'redis.log',
      ...(options.args ?? []),
    ];
    const guard = spawn('sh', ['-c', GUARD, 'redis-server', ...args], { stdio: ['pipe', 'ignore', 'ignore'] });
    node.guard = guard;
    guard.on('exit', () => {
      if (node.guard === guard) {
        node.guard = undefined;
        node.pid = undefined;
      }
    });
    node.pid = await waitForNode(node.port, guard, 10_000);
  };

  const stopNode = async (node: OwnNode) => {
    const guard = node.guard;
    if (!guard || guard.exitCode !== null || guard.signalCode !== null) return;
    const exited = once(guard, 'exit');
    if (node.pid !== undefined) {
      try {
        process.kill(node.pid, 'SIGCONT'); // a paused node would hold the SIGINT below
      } catch {}
    }
    guard.stdin?.end(); // the guard stops the server (SIGINT) and exits with it
    await exited;
  };

  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const dir = join(root, String(i));
      mkdirSync(dir);
      const node: OwnNode = { port: 0, dir, guard: undefined, pid: undefined };
      own.push(node);
      // A free port can be taken by another test between our probe and the bind: retry.
      for (let tries = 1; ; tries++) {
        node.port = await freePort();
        try {
          await launch(node);
          break;
        } catch (error) {
          if (tries >= 5) throw error;
        }
      }
    }
    await runCli([
      '--cluster',
      'create',
      ...own.map((n) => `127.0.0.1:${n.port}`),
      '--cluster-replicas',
      String(replicas),
      '--cluster-yes',
    ]);
  } catch (error) {
    await Promise.all(own.map(stopNode));
    rmSync(root, { recursive: true, force: true });
    janitor.stdin?.end();
    throw error;
  }

  const cluster = clusterHandle(
    own.map((n) => ({ host: '127.0.0.1', port: n.port })),
    {
      async kill(port) {
        const node = own.find((n) => n.port === port);
        if (!node?.guard || node.pid === undefined) throw new Error(`redis cluster: no live node on port ${port}`);
        const exited = once(node.guard, 'exit');
        process.kill(node.pid, 'SIGKILL'); // (also ends a paused node)
        await exited;
      },
      signal(port, signal) {
        const node = own.find((n) => n.port === port);
        if (node?.pid === undefined) throw new Error(`redis cluster: no live node on port ${port}`);
        process.kill(node.pid, signal);
      },
      async revive(port) {
        const node = own.find((n) => n.port === port);
        if (!node) throw new Error(`redis cluster: no node on port ${port}`);
        if (node.guard) throw new Error(`redis cluster: node ${port} is running`);
        await launch(node);
      },
      private: true,
      dir: root,
      isUp: (port) => own.find((n) => n.port === port)?.guard !== undefined,
      async stop() {
        await Promise.all(own.map(stopNode));
        rmSync(root, { recursive: true, force: true });
        janitor.stdin?.end();
      },
    },
  );
  try {
    await cluster.waitHealthy(timeout);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** A handle on a cluster this process did not start: no kill, no revive, `stop` does nothing. */
export function connectRedisCluster(nodes: readonly ClusterNodeAddress[]): RedisCluster {
  const refuse = () => Promise.reject(new Error('redis cluster: not started by this process (kill/revive need that)'));
  return clusterHandle(nodes, {
    private: false,
    dir: undefined,
    kill: refuse,
    signal: () => {
      throw new Error('redis cluster: not started by this process');
    },
    revive: refuse,
    isUp: () => true,
    stop: async () => {},
  });
}

interface Processes {
  readonly private: boolean;
  readonly dir: string | undefined;
  kill(port: number): Promise<void>;
  signal(port: number, signal: 'SIGSTOP' | 'SIGCONT'): void;
  revive(port: number): Promise<void>;
  isUp(port: number): boolean;
  stop(): Promise<void>;
}

interface NodeView {
  readonly id: string;
  readonly port: number;
  readonly role: 'master' | 'slave';
  readonly master_id: string | undefined;
  readonly failed: boolean;
  readonly slots: number;
}

function clusterHandle(nodes: readonly ClusterNodeAddress[], processes: Processes): RedisCluster {
  const live = () => nodes.filter((n) => processes.isUp(n.port));
  const view = async (): Promise<NodeView[]> => {
    for (const node of live()) {
      const text = await ask(node.port, (c) => c.call('CLUSTER', 'NODES')).catch(() => undefined);
      if (typeof text === 'string') return parseNodes(text);
    }
    throw new Error('redis cluster: no node answers');
  };

  const waitHealthy = async (timeout_ms = 30_000) => {
    let last = 'not checked yet';
    await until(timeout_ms, async () => {
      last = await healthProblem(live(), nodes.length);
      return last === '';
    }).catch(() => {
      throw new Error(`redis cluster not healthy within ${timeout_ms} ms: ${last}`);
    });
  };

  const cluster: RedisCluster = {
    nodes,
    private: processes.private,
    dir: processes.dir,
    async masters() {
      return (await view())
        .filter((n) => n.role === 'master' && n.slots > 0 && !n.failed)
        .map((n) => ({ host: '127.0.0.1', port: n.port }));
    },
    async masterOf(slot) {
      for (const node of live()) {
        const slots = (await ask(node.port, (c) => c.call('CLUSTER', 'SLOTS')).catch(() => undefined)) as
          | Array<[number, number, [string, number, ...unknown[]], ...unknown[]]>
          | undefined;
        const range = slots?.find(([from, to]) => slot >= from && slot <= to);
        if (range) return { host: String(range[2][0]), port: Number(range[2][1]) };
      }
      throw new Error(`redis cluster: nobody serves slot ${slot}`);
    },
    async failover(masterPort, { mode }) {
      const before = await view();
      const master = before.find((n) => n.port === masterPort && n.role === 'master');
      if (!master) throw new Error(`redis cluster: ${masterPort} is not a master`);
      const replica = before.find((n) => n.master_id === master.id && !n.failed && processes.isUp(n.port));
      if (!replica) throw new Error(`redis cluster: master ${masterPort} has no live replica`);
      const started = performance.now();
      if (mode === 'manual') await ask(replica.port, (c) => c.call('CLUSTER', 'FAILOVER'));
      else await processes.kill(masterPort);
      await until(60_000, async () => {
        if ((await roleOf(replica.port)) !== 'master') return false;
        if (mode === 'manual' && (await roleOf(masterPort)) !== 'slave') return false;
        // every live node must see the promotion, and the cluster serve every slot again
        for (const node of live()) {
          const seen = parseNodes(String(await ask(node.port, (c) => c.call('CLUSTER', 'NODES'))));
          if (seen.find((n) => n.port === replica.port)?.role !== 'master') return false;
        }
        return (await healthProblem(live(), nodes.length, { replicas_synced: false })) === '';
      });
      return {
        old_master: { host: '127.0.0.1', port: masterPort },
        new_master: { host: '127.0.0.1', port: replica.port },
        took_ms: Math.round(performance.now() - started),
      };
    },
    pause: (port) => processes.signal(port, 'SIGSTOP'),
    resume: (port) => processes.signal(port, 'SIGCONT'),
    async revive(port) {
      await processes.revive(port);
      await waitHealthy(60_000);
    },
    waitHealthy,
    stop: () => processes.stop(),
    [Symbol.asyncDispose]: () => processes.stop(),
  };
  return cluster;
}

/** '' when every live node is healthy and sees all `total` nodes, else what is wrong. */
async function healthProblem(
  live: readonly ClusterNodeAddress[],
  total: number,
  options: { readonly replicas_synced?: boolean } = {},
): Promise<string> {
  const masterSets = new Set<string>();
  for (const node of live) {
    const info = await ask(node.port, (c) => c.call('CLUSTER', 'INFO')).catch((error: unknown) => error);
    if (typeof info !== 'string') return `${node.port}: ${String(info)}`;
    const field = (name: string) => new RegExp(`${name}:(\\S+)`).exec(info)?.[1];
    if (field('cluster_state') !== 'ok') return `${node.port}: cluster_state ${field('cluster_state')}`;
    if (field('cluster_slots_ok') !== '16384') return `${node.port}: slots ok ${field('cluster_slots_ok')}`;
    if (Number(field('cluster_known_nodes')) < total)
      return `${node.port}: knows ${field('cluster_known_nodes')} nodes`;
    const nodes = parseNodes(String(await ask(node.port, (c) => c.call('CLUSTER', 'NODES'))));
    const serving = nodes.filter((n) => n.role === 'master' && n.slots > 0).map((n) => `${n.port}:${n.slots}`);
    masterSets.add(serving.sort().join(','));
    if (options.replicas_synced !== false) {
      const replication = String(await ask(node.port, (c) => c.call('INFO', 'replication')));
      if (/role:slave/.test(replication)) {
        if (!/master_link_status:up/.test(replication)) return `${node.port}: replica link down`;
        if (/master_sync_in_progress:1/.test(replication)) return `${node.port}: replica syncing`;
      }
    }
  }
  // all nodes agree on who serves which slots
  if (masterSets.size > 1) return `nodes disagree on the masters: ${[...masterSets].join(' | ')}`;
  return '';
}

function parseNodes(text: string): NodeView[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', address = '', flags = '', masterId = '-', , , , , ...slots] = line.trim().split(' ');
      const port = Number(/:(\d+)@/.exec(address)?.[1] ?? 0);
      const flagList = flags.split(',');
      let count = 0;
      for (const range of slots) {
        if (range.startsWith('[')) continue; // a slot being migrated
        const [from, to = from] = range.split('-').map(Number);
        count += (to ?? 0) - (from ?? 0) + 1;
      }
      return {
        id,
        port,
        role: flagList.includes('master') ? 'master' : 'slave',
        master_id: masterId === '-' ? undefined : masterId,
        failed: flagList.includes('fail') || flagList.includes('fail?'),
        slots: count,
      } satisfies NodeView;
    });
}

async function roleOf(port: number): Promise<string | undefined> {
  const role = await ask(port, (c) => c.call('ROLE')).catch(() => undefined);
  return Array.isArray(role) ? String(role[0]) : undefined;
}

async function ask<T>(port: number, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    connectTimeout: 2_000,
    commandTimeout: 2_000,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

async function until(timeout_ms: number, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeout_ms;
  while (Date.now() < deadline) {
    if (await check().catch(() => false)) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`condition not met within ${timeout_ms} ms`);
}

/** Waits until the node answers PING; resolves to the redis-server's pid. */
async function waitForNode(port: number, guard: ChildProcess, timeout_ms: number): Promise<number> {
  const deadline = Date.now() + timeout_ms;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (guard.exitCode !== null || guard.signalCode !== null) {
      throw new Error(`redis-server on port ${port} exited during start (code ${guard.exitCode})`);
    }
    try {
      const info = await ask(port, (c) => c.call('INFO', 'server'));
      const pid = /process_id:(\d+)/.exec(String(info))?.[1];
      if (pid) return Number(pid);
    } catch (error) {
      lastError = error;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  guard.stdin?.end();
  throw new Error(`redis-server on port ${port} did not answer within ${timeout_ms} ms: ${String(lastError)}`);
}

async function runCli(args: readonly string[]): Promise<void> {
  const child = spawn('redis-cli', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`redis-cli ${args.slice(0, 2).join(' ')} failed (${code}): ${output.slice(-2_000)}`);
}

/** Removes the folders private clusters left behind (their process was killed) over two hours ago. */
function sweepStale(): void {
  for (const name of readdirSync(tmpdir()).filter((n) => n.startsWith(FOLDER_PREFIX))) {
    const path = join(tmpdir(), name);
    try {
      if (Date.now() - statSync(path).mtimeMs > STALE_AFTER_MS) rmSync(path, { recursive: true, force: true });
    } catch {}
  }
}
