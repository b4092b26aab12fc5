// What Redis keeps on disk: the append-only setting read off INFO, and the risk said.
import { startRedis } from '@diana/test-services';
import { describe, expect, it } from 'vitest';
import { createRedisConnector } from '../src/connector.js';
import { persistenceRisk, readAppendOnly } from '../src/persistence.js';

describe('the persistence', () => {
  it('is read off INFO persistence: appendonly no loses events at a restart, appendonly yes is safe', async () => {
    await using server = await startRedis({ appendonly: false });
    const connector = createRedisConnector({ url: server.url });
    try {
      const client = connector.command({ name: 'persistence-test' });
      await connector.ready({ timeout_ms: 5_000 });
      expect(await readAppendOnly(client)).toEqual([false]);
      expect(persistenceRisk([false])).toMatch(
        /^Redis runs without an append-only file.*dead letters.*appendonly yes$/,
      );
      await client.config('SET', 'appendonly', 'yes');
      expect(await readAppendOnly(client)).toEqual([true]);
      expect(persistenceRisk([true])).toBeUndefined();
    } finally {
      await connector.close();
    }
  });

  it('names how many masters of a cluster run without one, when some have one', () => {
    expect(persistenceRisk([true, false, true])).toMatch(/^1 of 3 Redis masters run without an append-only file/);
    expect(persistenceRisk([false, false, false])).toMatch(/^Redis runs without an append-only file/);
    expect(persistenceRisk([])).toBeUndefined();
  });
});
