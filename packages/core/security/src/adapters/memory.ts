import { type Clock, SYSTEM_CLOCK } from '@diana/utils';
import { LRUCache } from 'lru-cache';
import { intervalMicros, type RateLimitStore } from '../rate-types.js';

/**
 * GCRA in this process's memory, with the Redis store's arithmetic. Keys are kept in an LRU
 * bounded by `max_keys` (a key evicted early only forgets calls it had made), each dropped
 * once its bucket is empty again.
 */
export function createMemoryRateLimitStore(options: { clock?: Clock; max_keys?: number } = {}): RateLimitStore {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const tats = new LRUCache<string, number>({ max: options.max_keys ?? 100_000, ttlAutopurge: false });
  return {
    name: 'memory',
    async consume(key, policy, cost) {
      const interval = intervalMicros(policy);
      const now = Math.round(clock.now() * 1_000);
      const tat = Math.max(tats.get(key) ?? 0, now);
      const next = tat + interval * cost;
      const allowAt = next - interval * policy.limit;
      if (allowAt > now) return { allowed: false, remaining: 0, retry_after_ms: Math.ceil((allowAt - now) / 1_000) };
      tats.set(key, next, { ttl: Math.ceil((next - now) / 1_000) });
      return { allowed: true, remaining: Math.floor((now - allowAt) / interval), retry_after_ms: 0 };
    },
  };
}
