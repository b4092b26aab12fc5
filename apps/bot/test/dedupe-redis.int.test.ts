import { createRedisConnector, isCluster, mastersOf, type RedisClient } from '@diana/redis';
import { createBarrier, useTestRedis, useTestRedisCluster } from '@diana/test-services';
import { isDianaError } from '@diana/utils';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisDedupe, DONE_FLUSH_MS } from '../src/dedupe.js';

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
    expect(await a.claim(1_000)).toBe('done'); // the process that handled it knows at once
    // its mark waits for a's next claim: until then the lease keeps b off it (Telegram retries)
    expect(isDianaError(await b.claim(1_000).catch((e: unknown) => e), 'E_BOT_UPDATE_IN_PROGRESS')).toBe(true);
    expect(await a.claim(3_000)).toBe('claimed'); // carries the mark
    expect(await b.claim(1_000)).toBe('done');
    await a.release(1_001);
    expect(await b.claim(1_001)).toBe('claimed');
  });

  it('a done mark no claim carries is written within DONE_FLUSH_MS, and at close', async () => {
    const a = createRedisDedupe(await ready(connector.command()), `${prefix}flush:`);
    const b = createRedisDedupe(await ready(connector.command()), `${prefix}flush:`);
    const seenDone = (id: number) =>
      b.claim(id).then(
        (outcome) => outcome === 'done',
        (error: unknown) => {
          if (isDianaError(error, 'E_BOT_UPDATE_IN_PROGRESS')) return false;
          throw error;
        },
      );
    expect(await a.claim(1)).toBe('claimed');
    const marked = Date.now();
    await a.done(1);
    expect(await seenDone(1)).toBe(false); // not written yet
    const deadline = Date.now() + 5 * DONE_FLUSH_MS;
    while (!(await seenDone(1))) {
      expect(Date.now()).toBeLessThan(deadline);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(Date.now() - marked).toBeGreaterThanOrEqual(DONE_FLUSH_MS - 50); // by the timer, not sooner
    expect(await a.claim(2)).toBe('claimed');
    await a.done(2);
    await a.close();
    expect(await seenDone(2)).toBe(true);
  });

  it.runIf(label === 'one server')('sends the waiting done marks and the next claim in one write', async () => {
    const client = await ready(connector.command());
    const dedupe = createRedisDedupe(client, `${prefix}write:`);
    const stream = (client as unknown as { stream: { write: (...args: unknown[]) => boolean } }).stream;
    const write = stream.write;
    let writes = 0;
    stream.write = function (this: unknown, ...args: unknown[]) {
      writes++;
      return write.apply(this, args);
    };
    try {
      for (let id = 1; id <= 3; id++) expect(await dedupe.claim(id)).toBe('claimed');
      for (let id = 1; id <= 3; id++) await dedupe.done(id);
      writes = 0;
      expect(await dedupe.claim(4)).toBe('claimed');
      expect(writes).toBe(1); // three marks and a claim
      const other = createRedisDedupe(client, `${prefix}write:`);
      for (let id = 1; id <= 3; id++) expect(await other.claim(id)).toBe('done');
    } finally {
      stream.write = write;
    }
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
