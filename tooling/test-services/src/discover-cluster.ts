import { type ClusterNodeAddress, connectRedisCluster, type RedisCluster, startRedisCluster } from './redis-cluster.js';

/** Names the nodes of an existing cluster for tests: `host:port,host:port,…`. */
export const REDIS_CLUSTER_ENV = 'DIANA_TEST_REDIS_CLUSTER_NODES';

let found: Promise<RedisCluster> | undefined;

/**
 * The Redis Cluster for tests, once per process: the one `DIANA_TEST_REDIS_CLUSTER_NODES` names
 * (it must answer with `cluster_state:ok`; one that does not is an error — falling back would test
 * something else), else a private 3 masters + 3 replicas started for this process. The private
 * one is stopped when the process exits (its nodes watch the process's pipe). Tests that fail
 * nodes over start their own with `startRedisCluster`.
 */
export function getRedisCluster(): Promise<RedisCluster> {
  found ??= discover();
  return found;
}

/** `host:port,host:port` → addresses (empty entries ignored). */
export function parseClusterNodes(text: string): ClusterNodeAddress[] {
  return text
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const match = /^(.+):(\d+)$/.exec(item);
      if (!match?.[1]) throw new Error(`${REDIS_CLUSTER_ENV}: "${item}" is not host:port`);
      return { host: match[1], port: Number(match[2]) };
    });
}

async function discover(): Promise<RedisCluster> {
  const fromEnv = process.env[REDIS_CLUSTER_ENV];
  // a private one stops, and its folder goes, when this process's pipes to it close
  if (!fromEnv) return startRedisCluster();
  const cluster = connectRedisCluster(parseClusterNodes(fromEnv));
  try {
    await cluster.waitHealthy(5_000);
  } catch (error) {
    throw new Error(`Redis Cluster for tests: ${REDIS_CLUSTER_ENV}=${fromEnv} is not healthy (${String(error)})`);
  }
  return cluster;
}
