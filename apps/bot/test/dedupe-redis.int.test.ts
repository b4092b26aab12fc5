import { createRedisConnector, isCluster, mastersOf, type RedisClient } from '@diana/redis';
import { captureLogLines, createBarrier, useTestRedis, useTestRedisCluster } from '@diana/test-services';
import { createLogger, isDianaError, SILENT_LOGGER } from '@diana/utils';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisDedupe, createResilientDedupe } from '../src/dedupe.js';

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

/** Resolves once `check` holds, polled every 10 ms, or false after `ms`. */
async function until(check: () => Promise<boolean>, ms = 5_000) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

/** The client, but every command fails while `down.value` (Redis not answering). */
function flaky(client: RedisClient, down: { value: boolean }): RedisClient {
  return new Proxy(client, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) =>
        down.value
          ? Promise.reject(new Error('Connection is closed.'))
          : (value as (...a: unknown[]) => unknown).apply(target, args);
    },
  }) as RedisClient;
}

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
  it('renews a claim while its update runs: a redelivery three leases later is still refused (before, a second process ran it)', async () => {
    const client = await ready(connector.command());
    const a = createRedisDedupe(client, `${prefix}renew:`, { lease_ms: 300 });
    const b = createRedisDedupe(client, `${prefix}renew:`, { lease_ms: 300 });
    expect(await a.claim(7)).toBe('claimed');
    const since = Date.now();
    // the lease is renewed, never set longer: its time left stays within one lease
    let renewals = 0;
    let last = Number.POSITIVE_INFINITY;
    expect(
      await until(async () => {
        const left = await client.pttl(`${prefix}renew:update:7`);
        expect(left).toBeGreaterThan(0);
        expect(left).toBeLessThanOrEqual(300);
        if (left > last) renewals++;
        last = left;
        return Date.now() - since > 1_000;
      }),
    ).toBe(true);
    expect(renewals).toBeGreaterThanOrEqual(2);
    expect(isDianaError(await b.claim(7).catch((e: unknown) => e), 'E_BOT_UPDATE_IN_PROGRESS')).toBe(true);
    await a.done(7);
    expect(await b.claim(7)).toBe('done');
  });

  it('a process whose claim was lost releases nothing of the new owner', async () => {
    const client = await ready(connector.command());
    const a = createRedisDedupe(client, `${prefix}owner:`, { lease_ms: 60_000 });
    const b = createRedisDedupe(client, `${prefix}owner:`, { lease_ms: 60_000 });
    const c = createRedisDedupe(client, `${prefix}owner:`, { lease_ms: 60_000 });
    expect(await a.claim(8)).toBe('claimed');
    await client.del(`${prefix}owner:update:8`); // a's lease ran out (a frozen process)
    expect(await b.claim(8)).toBe('claimed');
    await a.release(8); // a's handler failed late
    expect(isDianaError(await c.claim(8).catch((e: unknown) => e), 'E_BOT_UPDATE_IN_PROGRESS')).toBe(true);
    await b.release(8);
    expect(await c.claim(8)).toBe('claimed');
  });

  it('lets go of an update still running past hold_max_ms, and says so', async () => {
    const client = await ready(connector.command());
    const { destination, lines } = captureLogLines();
    const logger = createLogger({ level: 'warn', destination });
    const a = createRedisDedupe(client, `${prefix}hung:`, { lease_ms: 150, hold_max_ms: 400, logger });
    const b = createRedisDedupe(client, `${prefix}hung:`, { lease_ms: 150 });
    expect(await a.claim(9)).toBe('claimed');
    const since = Date.now();
    expect(await until(async () => (await b.claim(9).catch(() => 'refused')) === 'claimed')).toBe(true);
    expect(Date.now() - since).toBeGreaterThanOrEqual(400);
    expect(lines).toMatchObject([{ level: 'warn', update_id: 9, hold_max_ms: 400 }]);
  });
  it('an update this process claimed or ended while Redis did not answer is its own once Redis answers', async () => {
    const client = await ready(connector.command());
    const down = { value: true };
    const dedupe = createResilientDedupe(flaky(client, down), `${prefix}blip:`, SILENT_LOGGER, undefined, {
      lease_ms: 300,
    });
    const other = createRedisDedupe(client, `${prefix}blip:`, { lease_ms: 300 });
    // claimed in memory; Redis answers again while it runs; Telegram sends it again
    expect(await dedupe.claim(1)).toBe('claimed');
    down.value = false;
    expect(isDianaError(await dedupe.claim(1).catch((e: unknown) => e), 'E_BOT_UPDATE_IN_PROGRESS')).toBe(true); // before: claimed again, run beside the first
    await dedupe.done(1); // written to Redis too: another process skips it
    expect(await other.claim(1)).toBe('done');
    down.value = true;
    expect(await dedupe.claim(1)).toBe('done'); // before: in progress (a 500) for up to 5 minutes
    // claimed in Redis, ended while it did not answer: done here at once, and the mark owed is
    // written by the renewals once Redis answers (meanwhile the claim is renewed: never another's)
    down.value = false;
    expect(await dedupe.claim(2)).toBe('claimed');
    down.value = true;
    await dedupe.done(2);
    expect(await dedupe.claim(2)).toBe('done'); // before: claimed again once its lease ran out
    down.value = false;
    expect(await until(async () => (await client.get(`${prefix}blip:update:2`)) === 'done')).toBe(true);
    expect(await other.claim(2)).toBe('done');
  });
});
