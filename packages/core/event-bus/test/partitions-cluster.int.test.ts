import { createPostgres, type Database } from '@diana/db';
import { createRedisConnector, type RedisConnector } from '@diana/redis';
import { keysPerMaster, useTestDatabase, useTestRedisCluster } from '@diana/test-services';
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { partitionName } from '../src/partitions.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS, describeEventBusTransport } from '../src/testing.js';
import { describePartitionCases } from './fixtures/partition-cases.js';

// Partitioned types on a Redis Cluster (3 masters + 3 replicas): the conformance suite with
// every type in 4 partitions, the partition cases, and that 4 partitions of one type do land
// on more than one master.
const redis = await useTestRedisCluster('ev-partitions');
const testDb = await useTestDatabase('ev_partitions_cluster');
const connectors: RedisConnector[] = [];
const raw = new Cluster(redis.nodes.map((n) => ({ host: n.host, port: n.port })));
let db: Database | undefined;
afterAll(async () => {
  raw.disconnect();
  await db?.close();
  await Promise.all(connectors.map((c) => c.close({ timeout_ms: 200 })));
});
const connector = () => {
  const made = createRedisConnector({ cluster: { nodes: redis.nodes } });
  connectors.push(made);
  return made;
};
const transport = (prefix: string, partitions?: Record<string, number>) =>
  createRedisStreamsTransport({ prefix, ...(partitions ? { partitions } : {}) }, { connector: connector() });

describeEventBusTransport('redis-streams on a Redis Cluster, every type in 4 partitions', async (namespace) =>
  transport(`${redis.prefix}${namespace}:`, { 'test.happened': 4, 'test.keyed': 4 }),
);

describePartitionCases('Redis Cluster', {
  prefix: `${redis.prefix}cases:`,
  transport,
  raw: () => raw,
  db: () => {
    db ??= createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
    return db;
  },
});

describe('4 partitions on a Redis Cluster', () => {
  it('sit in different slots on more than one master, and a keyed stream of events fills them', async () => {
    const prefix = `${redis.prefix}spread:`;
    const owners = new Map<number, number>();
    for (let p = 0; p < 4; p++) {
      const slot = Number(await raw.call('CLUSTER', 'KEYSLOT', `${prefix}{${partitionName('test.keyed', p)}}`));
      const master = (await redis.cluster.masterOf(slot)).port;
      owners.set(master, (owners.get(master) ?? 0) + 1);
    }
    expect(owners.size).toBeGreaterThan(1);

    const t = transport(prefix, { 'test.keyed': 4 });
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport: t, events: CONFORMANCE_EVENTS });
    try {
      for (let seq = 0; seq < 200; seq++)
        await bus.publish('test.keyed', { key: `user:${seq}`, seq }, { key: `user:${seq}` });
      const masters = await redis.cluster.masters();
      const clients = masters.map((m) => new Redis({ host: m.host, port: m.port }));
      try {
        const perMaster = await keysPerMaster(clients, prefix);
        const lengths = await Promise.all(
          masters.map(async (_, i) => {
            let sum = 0;
            for (let p = 0; p < 4; p++) {
              const key = `${prefix}{${partitionName('test.keyed', p)}}`;
              const slot = Number(await raw.call('CLUSTER', 'KEYSLOT', key));
              if ((await redis.cluster.masterOf(slot)).port === masters[i]?.port) sum += await raw.xlen(key);
            }
            return sum;
          }),
        );
        // entries landed on as many masters as own a partition, adding up to all of them
        expect(perMaster.filter((n) => n > 0).length).toBe(owners.size);
        expect(lengths.filter((n) => n > 0).length).toBe(owners.size);
        expect(lengths.reduce((a, b) => a + b, 0)).toBe(200);
      } finally {
        for (const c of clients) c.disconnect();
      }
    } finally {
      await bus.close();
      await t.close();
    }
  });
});
