import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { parseClusterNodes } from '../src/discover-cluster.js';
import { type RedisCluster, startRedisCluster } from '../src/redis-cluster.js';

let cluster: RedisCluster | undefined;
afterAll(async () => {
  await cluster?.stop();
});

async function roleOf(port: number): Promise<string> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    maxRetriesPerRequest: 0,
    lazyConnect: true,
    retryStrategy: () => null,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    return String(((await client.call('ROLE')) as unknown[])[0]);
  } finally {
    client.disconnect();
  }
}

describe('startRedisCluster', () => {
  it('starts 3 masters with a replica each, serves every slot, and fails masters over (manual, kill, revive)', async () => {
    const started = performance.now();
    cluster = await startRedisCluster({ masters: 3, replicas: 1 });
    process.stdout.write(`start of 3 + 3: ${Math.round(performance.now() - started)} ms\n`);
    expect(cluster.nodes).toHaveLength(6);
    expect(cluster.private).toBe(true);
    const masters = await cluster.masters();
    expect(masters).toHaveLength(3);

    // keys with different hash tags land on different masters through a Cluster client
    const client = new Cluster([...cluster.nodes], { redisOptions: { maxRetriesPerRequest: 1 } });
    client.on('error', () => {});
    try {
      const owners = new Set<number>();
      for (const tag of ['a', 'b', 'c', 'd', 'e', 'f']) {
        const key = `t:cluster:{${tag}}`;
        await client.set(key, tag);
        owners.add((await cluster.masterOf(Number(await client.call('CLUSTER', 'KEYSLOT', key)))).port);
      }
      expect(owners.size).toBeGreaterThan(1);
      // replication is asynchronous: a write a master acknowledged but had not yet sent on dies
      // with it in a kill (Redis's own semantics), so each master's replica confirms first
      for (const master of masters) {
        const direct = new Redis({ port: master.port, lazyConnect: true });
        try {
          await direct.connect();
          expect(await direct.call('WAIT', 1, 5_000)).toBe(1);
        } finally {
          direct.disconnect();
        }
      }

      // manual: the replica becomes master, the old master its replica, nothing written is lost
      const first = masters[0]?.port as number;
      const manual = await cluster.failover(first, { mode: 'manual' });
      process.stdout.write(`manual failover: ${manual.took_ms} ms\n`);
      expect(manual.old_master.port).toBe(first);
      expect(await roleOf(manual.new_master.port)).toBe('master');
      expect(await roleOf(first)).toBe('slave');
      expect((await cluster.masters()).map((m) => m.port)).toContain(manual.new_master.port);

      // kill: SIGKILL of a master; its replica is promoted and the cluster serves every slot again
      const second = masters[1]?.port as number;
      const killed = await cluster.failover(second, { mode: 'kill' });
      process.stdout.write(`kill failover (node timeout 1 500 ms): ${killed.took_ms} ms\n`);
      expect(await roleOf(killed.new_master.port)).toBe('master');
      await expect(roleOf(second)).rejects.toThrow();
      expect((await cluster.masters()).map((m) => m.port)).not.toContain(second);
      for (const tag of ['a', 'b', 'c', 'd', 'e', 'f']) {
        expect(await client.get(`t:cluster:{${tag}}`)).toBe(tag);
      }

      // the killed node comes back as a replica of its replacement
      await cluster.revive(second);
      expect(await roleOf(second)).toBe('slave');
    } finally {
      client.disconnect();
    }
  }, 120_000);

  it('parses DIANA_TEST_REDIS_CLUSTER_NODES', () => {
    expect(parseClusterNodes('127.0.0.1:7000, localhost:7001,')).toEqual([
      { host: '127.0.0.1', port: 7000 },
      { host: 'localhost', port: 7001 },
    ]);
    expect(() => parseClusterNodes('127.0.0.1')).toThrow(/host:port/);
  });
});
