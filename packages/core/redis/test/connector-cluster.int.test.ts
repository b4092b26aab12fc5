import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { useTestRedisCluster } from '@diana/test-services';
import { Cluster } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createRedisConnector, isCluster, mastersOf } from '../src/connector.js';

const redis = await useTestRedisCluster('connector');
const connector = createRedisConnector({
  cluster: { nodes: redis.nodes.map((n) => `redis://${n.host}:${n.port}`) },
});
afterAll(() => connector.close());

describe('createRedisConnector on a Redis Cluster', () => {
  it('hands out Cluster clients with the fail-fast settings', async () => {
    expect(connector.cluster).toBe(true);
    expect(connector.where).toMatch(/^redis-cluster:\/\/127\.0\.0\.1:\d+,/);
    const command = connector.command({ command_timeout_ms: 2_000 }) as Cluster;
    const blocking = connector.blocking() as Cluster;
    expect(command).toBeInstanceOf(Cluster);
    expect(blocking).toBeInstanceOf(Cluster);
    // no offline queue: a command before the cluster is ready fails at once
    await expect(command.set(`${redis.prefix}early`, '1')).rejects.toThrow(/enableOfflineQueue/);
    // ready() waits for every client made so far, the new cluster client among them
    expect(command.status).not.toBe('ready');
    await connector.ready({ timeout_ms: 5_000 });
    expect(command.status).toBe('ready');
    expect(blocking.status).toBe('ready');
    // while ready, a command for a node still connecting waits in that node's queue (bounded by the limit)
    expect(command.options.enableOfflineQueue).toBe(true);
    expect(command.options.retryDelayOnFailover).toBe(0);
    expect(command.options.redisOptions?.commandTimeout).toBe(2_000);
    expect(command.options.redisOptions?.autoResendUnfulfilledCommands).toBe(false);
    expect(blocking.options.enableOfflineQueue).toBe(true);
    expect(blocking.options.redisOptions?.maxRetriesPerRequest).toBeNull();
    expect(await connector.ping({ timeout_ms: 10_000 })).toBeGreaterThanOrEqual(0);

    // keys land on several masters
    const owners = new Set<number>();
    for (let i = 0; i < 12; i++) {
      const key = `${redis.prefix}{k${i}}`;
      await command.set(key, String(i));
      owners.add((await redis.cluster.masterOf(Number(await command.call('CLUSTER', 'KEYSLOT', key)))).port);
      expect(await blocking.get(key)).toBe(String(i));
    }
    expect(owners.size).toBeGreaterThan(1);
    // every node connection of a client with a limit shakes hands without it (src/handshake.ts)
    expect(command.nodes().length).toBeGreaterThan(1);
    expect(command.nodes().every((node) => Object.hasOwn(node, 'sendCommand'))).toBe(true);
    expect(command.nodes().every((node) => node.options.commandTimeout === 2_000)).toBe(true);
    expect(isCluster(command)).toBe(true);
    expect(
      mastersOf(command)
        .map((node) => node.options.port)
        .sort(),
    ).toEqual((await redis.cluster.masters()).map((m) => m.port).sort());
    // multi-key commands across slots are refused (what the hash tags of every package prevent)
    await expect(command.mget(`${redis.prefix}{k0}`, `${redis.prefix}{k1}`)).rejects.toThrow(/CROSSSLOT|same slot/);
  });

  it('a burst of commands right after ready reaches every master (no spurious failure while a node connects)', async () => {
    for (let round = 0; round < 3; round++) {
      const command = connector.command() as Cluster;
      await once(command, 'ready');
      const results = await Promise.allSettled(
        Array.from({ length: 60 }, (_, i) => command.set(`${redis.prefix}{burst${round}:${i}}`, String(i))),
      );
      expect(
        results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
      ).toEqual([]);
      command.disconnect();
    }
  });

  it('a blocking read on one node does not hold up commands', async () => {
    // the reader's node connections carry a name of their own, so the server can show it blocked
    const name = `reader-${randomUUID()}`;
    const own = createRedisConnector({ cluster: { nodes: redis.nodes }, options: { connectionName: name } });
    try {
      const blocking = own.blocking() as Cluster;
      const command = connector.command() as Cluster;
      await once(command, 'ready');
      const stream = `${redis.prefix}{s}`;
      const read = blocking.xread('BLOCK', 10_000, 'STREAMS', stream, '$');
      // the read is blocked on its node before anything is appended (a '$' read sent later would miss it)
      await vi.waitFor(
        async () => {
          const lists = await Promise.all(command.nodes('master').map((node) => node.client('LIST')));
          const lines = lists.flatMap((list) => String(list).split('\n'));
          expect(lines.some((line) => line.includes(` name=${name} `) && line.includes(' cmd=xread '))).toBe(true);
        },
        { timeout: 10_000, interval: 20 },
      );
      const started = performance.now();
      await command.xadd(stream, '*', 'f', 'v');
      // behind the blocked read it would wait out its 10 s BLOCK; 5 s leaves a busy machine its slack
      expect(performance.now() - started).toBeLessThan(5_000);
      const reply = (await read) as Array<[string, Array<[string, string[]]>]>;
      expect(reply[0]?.[1][0]?.[1]).toEqual(['f', 'v']);
    } finally {
      await own.close();
    }
  });

  it('close ends every Cluster client it made, and is idempotent', async () => {
    const own = createRedisConnector({ cluster: { nodes: redis.nodes } });
    const a = own.command();
    const b = own.blocking();
    // (a Cluster's status may read `close` again after `end`: its node connections closing)
    const ended = Promise.all([once(a, 'end'), once(b, 'end')]);
    await once(a, 'ready');
    await a.ping();
    await Promise.all([own.close({ timeout_ms: 500 }), own.close()]);
    await ended;
    expect(a.status).not.toBe('ready');
    expect(b.status).not.toBe('ready');
    await expect(a.ping()).rejects.toThrow();
  });

  it('refuses an empty node list, a node that is not host:port and a port outside 1–65535, with E_UTILS_VALIDATION', () => {
    const refusal = (nodes: Parameters<typeof createRedisConnector>[0] extends infer O ? O : never) => {
      try {
        createRedisConnector(nodes);
      } catch (error) {
        return error as { code?: string; message: string };
      }
      return undefined;
    };
    expect(refusal({ cluster: { nodes: [] } })).toMatchObject({ code: 'E_UTILS_VALIDATION', message: /no nodes/ });
    expect(refusal({ cluster: { nodes: ['nohost'] } })).toMatchObject({
      code: 'E_UTILS_VALIDATION',
      message: /host:port/,
    });
    for (const nodes of [['127.0.0.1:99999'], ['127.0.0.1:0'], ['redis://h:70000'], [{ host: 'h', port: 6379.5 }]])
      expect(refusal({ cluster: { nodes } })).toMatchObject({ code: 'E_UTILS_VALIDATION', message: /1–65535/ });
    // a URL's password never appears in the message
    expect(refusal({ cluster: { nodes: ['127.0.0.1:7000', 'http://user:s3cret@h:1'] } })?.message).not.toMatch(
      /s3cret/,
    );
  });
});
