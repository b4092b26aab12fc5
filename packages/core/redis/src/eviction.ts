// What Redis does at `maxmemory`. Diana keeps data in Redis that nothing else holds until it is
// handled (event streams, their consumer groups, dead letters) and marks whose loss repeats work
// (the update dedupe, append-once markers): an eviction policy other than `noeviction` lets Redis
// drop them silently once it is full. `noeviction` refuses writes instead, which every part
// survives (the outbox holds events, limits and dedupe fall back to process memory).
import { mastersOf, type RedisClient } from './connector.js';

/**
 * The eviction policies of the masters, each once (`INFO memory`'s `maxmemory_policy`: CONFIG
 * may be disabled on a hosted Redis; a server that does not say is left out).
 */
export async function readEvictionPolicies(client: RedisClient): Promise<string[]> {
  const policies = await Promise.all(
    mastersOf(client).map(async (node) => /^maxmemory_policy:(\S+)/m.exec(await node.info('memory'))?.[1]),
  );
  return [...new Set(policies.filter((policy) => policy !== undefined))];
}

/**
 * What an eviction policy risks for Diana's keys: undefined for `noeviction`; else a sentence
 * for the operator (`allkeys-*` evicts streams, groups and dead letters: events lost; `volatile-*`
 * only keys with a TTL: an update may be handled twice, a relayed event appended twice).
 */
export function evictionRisk(policy: string): string | undefined {
  if (policy === 'noeviction') return undefined;
  if (policy.startsWith('volatile-'))
    return `Redis maxmemory-policy is ${policy}: once full, Redis evicts keys with a TTL (update dedupe marks, append-once markers, cached state): an update may be handled twice; set maxmemory-policy noeviction`;
  return `Redis maxmemory-policy is ${policy}: once full, Redis may evict event streams, consumer groups and dead letters, and the events in them (besitos, rewards, notices) are lost without a trace; set maxmemory-policy noeviction`;
}

/**
 * What a Redis error reply means when its text alone misleads (for a failure streak's
 * `explain`): `OOM` — out of memory under `noeviction`, refusing writes until memory is freed;
 * `READONLY` — a replica answered a write. Undefined for anything else.
 */
export function explainRedisError(error: unknown): string | undefined {
  const text = error instanceof Error ? error.message : String(error);
  if (text.startsWith('OOM'))
    return 'Redis is out of memory (maxmemory reached): it refuses writes until memory is freed';
  if (text.startsWith('READONLY')) return 'a read-only Redis replica answered a write (a failover in progress?)';
  return undefined;
}
