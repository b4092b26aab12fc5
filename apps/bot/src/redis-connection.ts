import {
  evictionRisk,
  quitWithin,
  type RedisConnector,
  type RedisConnectorOptions,
  readEvictionPolicies,
} from '@diana/redis';
import { type Logger, revealSecret, type Secret } from '@diana/utils';

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

/**
 * Says at start, at error, when Redis's `maxmemory-policy` lets it evict what Diana keeps there
 * (once full: streams, groups and dead letters under `allkeys-*`; TTL'd marks under
 * `volatile-*`). Before, nothing said so and a full Redis lost events silently. A server that
 * does not answer `INFO memory` (an ACL) is left unchecked, said at debug.
 */
export async function checkEvictionPolicy(connector: RedisConnector, logger: Logger): Promise<void> {
  const client = connector.command({ name: 'eviction-check' });
  try {
    await connector.ready({ timeout_ms: 5_000 });
    for (const policy of await readEvictionPolicies(client)) {
      const risk = evictionRisk(policy);
      if (risk) logger.error({ maxmemory_policy: policy }, risk);
    }
  } catch (error) {
    logger.debug({ err: error }, 'could not read Redis maxmemory-policy');
  } finally {
    await quitWithin(client, 1_000);
  }
}
