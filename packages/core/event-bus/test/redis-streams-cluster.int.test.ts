import { createRedisConnector, isCluster } from '@diana/redis';
import { useTestRedisCluster } from '@diana/test-services';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { describeEventBusTransport } from '../src/testing.js';

// The conformance suite on a Redis Cluster (3 masters + 3 replicas): each event type's stream
// is its own slot, so a group reading two types reads two slots, often on two masters.
const redis = await useTestRedisCluster('event-bus');
const connectors: Array<ReturnType<typeof createRedisConnector>> = [];
afterAll(async () => {
  await Promise.all(connectors.map((c) => c.close({ timeout_ms: 200 })));
});
const connector = () => {
  const made = createRedisConnector({ cluster: { nodes: redis.nodes } });
  connectors.push(made);
  return made;
};

describeEventBusTransport('redis-streams on a Redis Cluster', async (namespace) =>
  createRedisStreamsTransport({ prefix: `${redis.prefix}${namespace}:` }, { connector: connector() }),
);

describe('redis-streams on a Redis Cluster', () => {
  it('uses a Cluster client, and the streams of the suite sit on different masters', async () => {
    const made = connector();
    const client = made.command();
    expect(isCluster(client)).toBe(true);
    const owners = new Set<number>();
    for (const type of ['test.happened', 'test.keyed']) {
      const slot = await keySlot(client, `${redis.prefix}x:{${type}}`);
      owners.add((await redis.cluster.masterOf(slot)).port);
    }
    expect(owners.size).toBe(2);
  });
});

async function keySlot(client: ReturnType<ReturnType<typeof createRedisConnector>['command']>, key: string) {
  const deadline = Date.now() + 5_000;
  while (client.status !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return Number(await client.call('CLUSTER', 'KEYSLOT', key));
}

describe('the stream prefix', () => {
  it.each(['diana:{ev}:', 'a}b:'])(
    'refuses %s with E_BUS_CONFIG (a brace would become every key’s hash tag)',
    (prefix) => {
      expect(() =>
        createRedisStreamsTransport({ prefix }, { connector: createRedisConnector({ options: { port: 1 } }) }),
      ).toThrow(expect.objectContaining({ code: 'E_BUS_CONFIG' }));
    },
  );
});
