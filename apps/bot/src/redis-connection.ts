import type { RedisConnectorOptions } from '@diana/redis';
import { revealSecret, type Secret } from '@diana/utils';

/**
 * The connector options the `redis` settings ask for, or undefined when Redis is not configured:
 * a cluster when `cluster_nodes` is set (the URL, when also set, gives every node its credentials
 * and TLS and is one more seed), else the one server of `url`.
 */
export function redisConnection(redis: {
  readonly url?: Secret<string> | undefined;
  readonly cluster_nodes?: readonly string[] | undefined;
}): Omit<RedisConnectorOptions, 'logger'> | undefined {
  const url = redis.url ? revealSecret(redis.url) : undefined;
  if (redis.cluster_nodes && redis.cluster_nodes.length > 0) {
    return { cluster: { nodes: [...(url ? [url] : []), ...redis.cluster_nodes] } };
  }
  return url ? { url } : undefined;
}
