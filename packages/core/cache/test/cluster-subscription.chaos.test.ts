// The cluster limit the README used to state: ioredis holds the invalidation subscription on a
// connection of its own to one node, and when that node dies it moves the subscription to
// another node with no event on the cluster client. Here the node holding it is SIGKILLed (a
// master, failed over to its replica); the cache must count itself deaf, listen again, and drop
// the memory copies it kept (a notice sent meanwhile was lost to it).
import { createRedisConnector } from '@diana/redis';
import { startRedisCluster } from '@diana/test-services';
import { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { createRedisCacheStore } from '../src/adapters/redis.js';
import { createCache } from '../src/cache.js';
import { untilListening } from '../src/testing.js';

const cluster = await startRedisCluster();
// one plain client per node (the killed one's keeps failing to reconnect: its errors are expected)
const nodes = cluster.nodes.map((node) => {
  const client = new Redis({ host: node.host, port: node.port, lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  return client;
});
afterAll(async () => {
  for (const node of nodes) node.disconnect();
  await cluster.stop();
});

async function until(check: () => Promise<boolean> | boolean, ms: number, what: string) {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

it('the node holding the subscription dies: the cache listens again and drops the copies it kept', async () => {
  const name = `gapkill${process.pid}`;
  const config = { key_prefix: 'gap:' };
  const connector = createRedisConnector({ cluster: { nodes: cluster.nodes }, options: { connectionName: name } });
  const b = createCache(config, { store: createRedisCacheStore(config, { connector }) });
  const writerConnector = createRedisConnector({ cluster: { nodes: cluster.nodes } });
  const a = createCache(config, { store: createRedisCacheStore(config, { connector: writerConnector }) });
  const raw = writerConnector.command();
  /** The node (index) holding B's subscription and the connection's id there. */
  const subscription = async () => {
    for (const [i, node] of nodes.entries()) {
      const list = (await node.client('LIST').catch(() => '')) as string;
      const line = list
        .split('\n')
        .find((l) => l.includes(`name=ioredis-cluster(subscriber):${name} `) && / sub=1 /.test(l));
      if (line) return { node: i, id: /^id=(\d+)/.exec(line)?.[1] as string };
    }
    return undefined;
  };
  try {
    await untilListening(b);
    await writerConnector.ready({ timeout_ms: 10_000 });
    // ioredis picks the node at random: move the subscription until it sits on a master
    const masters = new Set((await cluster.masters()).map((m) => m.port));
    let at = await subscription();
    for (let moves = 0; at && !masters.has(cluster.nodes[at.node]?.port ?? -1) && moves < 50; moves++) {
      const from = at;
      await nodes[from.node]?.client('KILL', 'ID', from.id);
      await until(
        async () => {
          at = await subscription();
          return at !== undefined && at.id !== from.id;
        },
        5_000,
        'moved',
      );
      await untilListening(b);
    }
    const port = cluster.nodes[at?.node ?? -1]?.port as number;
    expect(masters.has(port)).toBe(true);

    await a.set('k', 'old', { ttl_ms: 600_000 });
    await a.set('k2', 'new', { ttl_ms: 600_000 });
    expect(await b.get('k')).toBe('old');
    expect(await b.get('k')).toBe('old'); // from B's memory
    // a change whose notice B never hears: k2's entry copied onto k in Redis, no notice
    await raw.set('gap:v:k', (await raw.get('gap:v:k2')) as string, 'PX', 600_000);
    expect(await b.get('k')).toBe('old');

    // the fault: the master holding B's subscription is killed and its replica promoted
    const failover = await cluster.failover(port, { mode: 'kill' });
    expect(failover.old_master.port).toBe(port);
    await until(async () => (await b.get('k')) === 'new', 15_000, 'the kept copy dropped');
    await untilListening(b, 15_000);
    const after = await subscription();
    expect(after).toBeDefined();
    expect(cluster.nodes[after?.node ?? -1]?.port).not.toBe(port);
    // and it hears notices again
    await a.set('k', 'newer');
    await until(async () => (await b.get('k')) === 'newer', 5_000, 'a notice after the failover');
  } finally {
    await Promise.all([a.close(), b.close()]);
    await Promise.all([connector.close(), writerConnector.close()]);
  }
}, 120_000);
