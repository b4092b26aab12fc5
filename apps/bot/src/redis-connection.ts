import {
  evictionRisk,
  persistenceRisk,
  quitWithin,
  type RedisClient,
  type RedisConnector,
  type RedisConnectorOptions,
  readAppendOnly,
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

/** What Redis's settings risk for what Diana keeps there: each a sentence, at the level to say it. */
export interface RedisSettingsRisk {
  readonly level: 'error' | 'warn';
  readonly fields: Record<string, unknown>;
  readonly risk: string;
}

/**
 * Reads what the masters' settings risk: a `maxmemory-policy` that lets Redis evict (once full:
 * streams, groups and dead letters under `allkeys-*`; TTL'd marks under `volatile-*`), at error; a
 * master with no append-only file (a restart takes back what came after its last snapshot), at warn.
 * Each setting is read on its own: one the server will not say (an ACL that refuses `INFO
 * persistence`) is left out, told to `unread`, and the other is still said — a first version lost
 * the eviction error whenever the persistence read failed.
 */
export async function readRedisSettingsRisks(
  client: RedisClient,
  unread: (setting: string, error: unknown) => void = () => {},
): Promise<RedisSettingsRisk[]> {
  const risks: RedisSettingsRisk[] = [];
  const policies = await readEvictionPolicies(client).catch((error: unknown) => {
    unread('maxmemory-policy', error);
    return [];
  });
  for (const policy of policies) {
    const risk = evictionRisk(policy);
    if (risk) risks.push({ level: 'error', fields: { maxmemory_policy: policy }, risk });
  }
  const appendOnly = await readAppendOnly(client).catch((error: unknown) => {
    unread('appendonly', error);
    return [];
  });
  const risk = persistenceRisk(appendOnly);
  if (risk) risks.push({ level: 'warn', fields: { appendonly: appendOnly.map((on) => (on ? 'yes' : 'no')) }, risk });
  return risks;
}

/**
 * Says at start what Redis's settings risk (`readRedisSettingsRisks`). Before, nothing said it, and
 * a full or restarted Redis lost events silently. A setting the server does not say (an ACL) is
 * left unchecked, said at debug.
 */
export async function checkRedisSettings(connector: RedisConnector, logger: Logger): Promise<void> {
  const client = connector.command({ name: 'settings-check' });
  try {
    await connector.ready({ timeout_ms: 5_000 });
    const risks = await readRedisSettingsRisks(client, (setting, error) =>
      logger.debug({ err: error }, `could not read Redis ${setting}`),
    );
    for (const { level, fields, risk } of risks) logger[level](fields, risk);
  } catch (error) {
    logger.debug({ err: error }, 'could not read Redis maxmemory-policy and appendonly');
  } finally {
    await quitWithin(client, 1_000);
  }
}
