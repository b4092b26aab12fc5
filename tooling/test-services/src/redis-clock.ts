import type { Cluster, Redis } from 'ioredis';
import { mastersOf, scanPrefix } from './cluster-prefix.js';

// PTTL and the change in one step, so the time a round trip takes is not added to the key's life
const SHIFT = `local left = redis.call('PTTL', KEYS[1])
if left < 0 then return 0 end
local by = tonumber(ARGV[1])
if left <= by then redis.call('DEL', KEYS[1]) return 2 end
redis.call('PEXPIRE', KEYS[1], left - by)
return 1`;

/** What `advanceRedisTtls` did to the keys under its prefix. */
export interface TtlShift {
  /** Keys whose remaining life was shortened by `ms`. */
  readonly shortened: number;
  /** Keys with at most `ms` left: deleted, as Redis would have expired them. */
  readonly expired: number;
}

/**
 * Lets `ms` pass for every key starting with `prefix` that has a TTL: a clock for tests of
 * expiry on a real Redis without waiting in real time (a wait on a busy machine can stretch by
 * seconds; this cannot). Keys without a TTL are left alone. One key at a time, so it runs on a
 * Cluster's masters too; the caller keeps other writers of the prefix still meanwhile.
 */
export async function advanceRedisTtls(
  target: readonly Redis[] | Redis | Cluster,
  prefix: string,
  ms: number,
): Promise<TtlShift> {
  if (!Number.isSafeInteger(ms) || ms < 0) throw new Error(`advanceRedisTtls: ms must be a whole number ≥ 0 (${ms})`);
  let shortened = 0;
  let expired = 0;
  for (const node of await mastersOf(target))
    for await (const keys of scanPrefix(node, prefix))
      for (const key of keys) {
        const outcome = await node.eval(SHIFT, 1, key, ms);
        if (outcome === 1) shortened++;
        else if (outcome === 2) expired++;
      }
  return { shortened, expired };
}
