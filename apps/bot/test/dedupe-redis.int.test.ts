import { createRedisConnector, isCluster, mastersOf, type RedisClient } from '@diana/redis';
import { createBarrier, useTestRedis, useTestRedisCluster } from '@diana/test-services';
import { isDianaError } from '@diana/utils';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisDedupe } from '../src/dedupe.js';

// The update dedupe on Redis, on one server and on a Redis Cluster (3 masters + 3 replicas).
const single = await useTestRedis('bot-dedupe');
const cluster = await useTestRedisCluster('bot-dedupe');
const connectors = [
  { label: 'one server', prefix: single.prefix, connector: createRedisConnector({ url: single.url }) },
  {
    label: 'a Redis Cluster',
    prefix: cluster.prefix,
    connector: createRedisConnector({ cluster: { nodes: cluster.nodes } }),
  },
];
afterAll(async () => {
  await Promise.all(connectors.map((c) => c.connector.close()));
});

async function ready(client: RedisClient) {
  const deadline = Date.now() + 5_000;
  while (client.status !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return client;
}

describe.each(connectors)('update dedupe on $label', ({ label, prefix, connector }) => {
  it('one of two processes racing on an update claims it; done is remembered; release lets it run again', async () => {
    const a = createRedisDedupe(await ready(connector.command()), prefix);
    const b = createRedisDedupe(await ready(connector.command()), prefix);
    const barrier = createBarrier(40);
    const outcomes = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        await barrier.wait();
        return (i % 2 ? a : b).claim(1_000 + (i % 20)).catch((error: unknown) => error);
      }),
    );
    // 20 updates, each raced by both processes: one claim each, the other refused as in progress
    expect(outcomes.filter((o) => o === 'claimed')).toHaveLength(20);
    expect(outcomes.filter((o) => isDianaError(o, 'E_BOT_UPDATE_IN_PROGRESS'))).toHaveLength(20);
    await a.done(1_000);
    expect(await b.claim(1_000)).toBe('done');
    await a.release(1_001);
    expect(await b.claim(1_001)).toBe('claimed');
  });

  it(`keeps its keys where the deployment puts them (${label})`, async () => {
    const client = await ready(connector.command());
    expect(isCluster(client)).toBe(label === 'a Redis Cluster');
    const dedupe = createRedisDedupe(client, `${prefix}spread:`);
    for (let id = 1; id <= 30; id++) expect(await dedupe.claim(id)).toBe('claimed');
    const perNode: number[] = [];
    for (const node of mastersOf(client)) {
      let cursor = '0';
      let n = 0;
      do {
        const [next, keys] = await node.scan(cursor, 'MATCH', `${prefix}spread:*`, 'COUNT', 500);
        cursor = next;
        n += keys.length;
      } while (cursor !== '0');
      perNode.push(n);
    }
    expect(perNode.reduce((x, y) => x + y, 0)).toBe(30);
    if (isCluster(client)) expect(perNode.filter((n) => n > 0).length).toBeGreaterThan(1);
  });
});
