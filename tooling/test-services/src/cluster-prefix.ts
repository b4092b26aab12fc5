import { randomBytes } from 'node:crypto';
import { Cluster, type Redis } from 'ioredis';
import { cleanUpAfter } from './cleanup.js';
import { getRedisCluster } from './discover-cluster.js';
import type { ClusterNodeAddress, RedisCluster } from './redis-cluster.js';

/** A key prefix on the test Redis Cluster, owned by one test file. */
export interface TestRedisCluster {
  readonly cluster: RedisCluster;
  /** Seed nodes for a client. */
  readonly nodes: readonly ClusterNodeAddress[];
  /** Every key the test writes starts with it, e.g. `t:cache:1a2b3c:`. */
  readonly prefix: string;
  /** Deletes every key under the prefix on every master (SCAN + UNLINK per node). */
  cleanup(): Promise<number>;
}

/** A key prefix on the test cluster, cleaned up after the test that asked (outside a test: after the file's tests). */
export async function useTestRedisCluster(label: string): Promise<TestRedisCluster> {
  const cluster = await getRedisCluster();
  const prefix = `t:${label.replace(/[^A-Za-z0-9_-]+/g, '-')}:${randomBytes(4).toString('hex')}:`;
  const handle: TestRedisCluster = {
    cluster,
    nodes: cluster.nodes,
    prefix,
    cleanup: () => deleteByPrefixOnCluster(cluster.nodes, prefix),
  };
  cleanUpAfter(() => handle.cleanup());
  return handle;
}

/** Deletes every key starting with `prefix` on every master of the cluster; returns how many. */
export async function deleteByPrefixOnCluster(nodes: readonly ClusterNodeAddress[], prefix: string): Promise<number> {
  const client = new Cluster([...nodes], { lazyConnect: true, redisOptions: { maxRetriesPerRequest: 1 } });
  client.on('error', () => {});
  await client.connect();
  let deleted = 0;
  try {
    for (const node of client.nodes('master'))
      for await (const keys of scanPrefix(node, prefix)) {
        // one key per UNLINK: keys of one node can sit in different slots
        for (const key of keys) deleted += await node.unlink(key);
      }
  } finally {
    client.disconnect();
  }
  return deleted;
}

/**
 * How many keys starting with `prefix` each master holds, in their order (one server: itself).
 * Given a `Cluster` client, waits (up to 10 s) until it is ready: before its first slot refresh
 * its list of masters is empty, then every seed node, replicas included.
 */
export async function keysPerMaster(masters: readonly Redis[] | Redis | Cluster, prefix: string): Promise<number[]> {
  const nodes = await mastersOf(masters);
  if (nodes.length === 0) throw new Error('keysPerMaster: no master to count on');
  const counts: number[] = [];
  for (const node of nodes) {
    let n = 0;
    for await (const keys of scanPrefix(node, prefix)) n += keys.length;
    counts.push(n);
  }
  return counts;
}

/** The masters to scan: the list given, a ready `Cluster` client's masters, or one server. */
export async function mastersOf(masters: readonly Redis[] | Redis | Cluster): Promise<readonly Redis[]> {
  if (isList(masters)) return masters;
  return masters.isCluster ? readyMasters(masters as Cluster) : [masters as Redis];
}

const isList = (value: readonly Redis[] | Redis | Cluster): value is readonly Redis[] => Array.isArray(value);

async function readyMasters(client: Cluster): Promise<Redis[]> {
  if (client.status !== 'ready')
    await new Promise<void>((resolve, reject) => {
      const onReady = () => {
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        client.off('ready', onReady);
        reject(new Error(`the cluster client is not ready within 10 s (${client.status})`));
      }, 10_000);
      client.once('ready', onReady);
    });
  return client.nodes('master');
}

/** The keys starting with `prefix` on one node, a SCAN page at a time. */
export async function* scanPrefix(node: Redis, prefix: string): AsyncGenerator<string[]> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  do {
    const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    yield keys;
  } while (cursor !== '0');
}
