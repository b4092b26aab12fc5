import { createRedisConnector, type RedisConnector } from '@diana/redis';
import { useTestRedis, useTestRedisCluster } from '@diana/test-services';
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/testing.js';

// wait_replicas: publish resolves only once a replica has the entry (WAIT sent with the append,
// on the stream's master); fewer replicas in time is E_BUS_PUBLISH_NOT_REPLICATED.
const single = await useTestRedis('ev-wait');
const cluster = await useTestRedisCluster('ev-wait');
const connectors: RedisConnector[] = [];
afterAll(async () => {
  await Promise.all(connectors.map((c) => c.close({ timeout_ms: 200 })));
});
const track = (c: RedisConnector) => {
  connectors.push(c);
  return c;
};

describe('wait_replicas', () => {
  it('on a server without replicas: rejects with E_BUS_PUBLISH_NOT_REPLICATED after wait_timeout_ms; the entry is on the master', async () => {
    const prefix = `${single.prefix}none:`;
    const transport = createRedisStreamsTransport(
      { prefix, wait_replicas: 1, wait_timeout_ms: 150 },
      { connector: track(createRedisConnector({ options: { port: Number(new URL(single.url).port) } })) },
    );
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS });
    try {
      const started = performance.now();
      const outcomes = await Promise.allSettled([1, 2, 3].map((n) => bus.publish('test.happened', { n })));
      const took = performance.now() - started;
      for (const outcome of outcomes) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: 'E_BUS_PUBLISH_NOT_REPLICATED' });
      }
      expect(took).toBeGreaterThanOrEqual(140); // WAIT waited its timeout
      expect(await transport.streamLength('test.happened')).toBe(3); // the documented outcome
    } finally {
      await bus.close();
      await transport.close();
    }
  });

  it.each([
    [{ wait_replicas: -1 }],
    [{ wait_replicas: 1.5 }],
    [{ wait_replicas: 1, wait_timeout_ms: 5_000 }],
    [{ wait_replicas: 1, wait_timeout_ms: 0 }],
  ])('refuses %j with E_BUS_CONFIG', (config) => {
    expect(() =>
      createRedisStreamsTransport(config, { connector: createRedisConnector({ options: { port: 1 } }) }),
    ).toThrow(expect.objectContaining({ code: 'E_BUS_CONFIG' }));
  });

  it('on a Redis Cluster: once publish resolves, the replica of the stream’s master has the entry', async () => {
    const prefix = `${cluster.prefix}wait:`;
    const transport = createRedisStreamsTransport(
      // what is asserted is the replica's copy, not speed: limits a busy machine's shared cluster
      // cannot miss (a replica slow to confirm failed it with E_BUS_PUBLISH_NOT_REPLICATED)
      {
        prefix,
        wait_replicas: 1,
        wait_timeout_ms: 5_000,
        command_timeout_ms: 10_000,
        partitions: { 'test.keyed': 4 },
      },
      { connector: track(createRedisConnector({ cluster: { nodes: cluster.nodes } })) },
    );
    const bus = createEventBus(
      { ...CONFORMANCE_CONFIG, publish_timeout_ms: 15_000 },
      { transport, events: CONFORMANCE_EVENTS },
    );
    const raw = new Cluster(cluster.nodes.map((n) => ({ host: n.host, port: n.port })));
    const replicas = new Map<string, Redis>();
    try {
      const replicaOf = async (key: string) => {
        const slot = Number(await raw.call('CLUSTER', 'KEYSLOT', key));
        const master = await cluster.cluster.masterOf(slot);
        const id = `${master.host}:${master.port}`;
        let replica = replicas.get(id);
        if (!replica) {
          const m = new Redis({ host: master.host, port: master.port });
          const myId = String(await m.call('CLUSTER', 'MYID'));
          const [line] = (await m.call('CLUSTER', 'REPLICAS', myId)) as string[];
          m.disconnect();
          const [host, port] = String(line?.split(' ')[1]?.split('@')[0]).split(':');
          replica = new Redis({ host, port: Number(port) });
          await replica.call('READONLY');
          replicas.set(id, replica);
        }
        return replica;
      };
      const streams = [0, 1, 2, 3].map((p) => `${prefix}{test.keyed${p === 0 ? '' : `#${p}`}}`);
      const onReplica: Redis[] = [];
      for (const stream of streams) onReplica.push(await replicaOf(stream));
      // concurrent publishes over 4 partitions (so several masters); each one looked for on its
      // stream's replica the moment it resolves
      const checks = await Promise.all(
        Array.from({ length: 100 }, async (_, seq) => {
          const key = `user:${seq}`;
          const event = await bus.publish('test.keyed', { key, seq }, { key });
          const entries = await Promise.all(
            streams.map(async (stream, p) => (await onReplica[p]?.xrange(stream, '-', '+')) ?? []),
          );
          return entries.flat().some(([, fields]) => JSON.parse(fields[1] ?? '{}').id === event.id);
        }),
      );
      expect(checks.filter((found) => !found)).toHaveLength(0);
      expect(replicas.size).toBeGreaterThan(1);
    } finally {
      raw.disconnect();
      for (const r of replicas.values()) r.disconnect();
      await bus.close();
      await transport.close();
    }
  });
});
