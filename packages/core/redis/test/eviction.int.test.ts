// What a full Redis would do to Diana's keys: the policy read off INFO, and the risk said.
import { startRedis } from '@diana/test-services';
import { describe, expect, it } from 'vitest';
import { createRedisConnector } from '../src/connector.js';
import { evictionRisk, readEvictionPolicies } from '../src/eviction.js';

describe('the eviction policy', () => {
  it('is read off INFO memory: noeviction is safe, allkeys-lru loses events, volatile-lru repeats work', async () => {
    await using server = await startRedis({ args: ['--maxmemory-policy', 'allkeys-lru'] });
    const connector = createRedisConnector({ url: server.url });
    try {
      const client = connector.command({ name: 'eviction-test' });
      await connector.ready({ timeout_ms: 5_000 });
      expect(await readEvictionPolicies(client)).toEqual(['allkeys-lru']);
      expect(evictionRisk('allkeys-lru')).toMatch(/event streams, consumer groups and dead letters.*noeviction/);
      await client.config('SET', 'maxmemory-policy', 'volatile-lru');
      expect(await readEvictionPolicies(client)).toEqual(['volatile-lru']);
      expect(evictionRisk('volatile-lru')).toMatch(/keys with a TTL.*handled twice/);
      await client.config('SET', 'maxmemory-policy', 'noeviction');
      expect(await readEvictionPolicies(client)).toEqual(['noeviction']);
      expect(evictionRisk('noeviction')).toBeUndefined();
    } finally {
      await connector.close();
    }
  });
});
