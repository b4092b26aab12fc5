import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { type RedisServer, startRedis } from '../src/redis-server.js';

const servers: RedisServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.stop()));
});

async function withClient<T>(server: RedisServer, fn: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
  try {
    return await fn(client);
  } finally {
    client.disconnect();
  }
}

describe('startRedis', () => {
  it('keeps data across a clean shutdown and restart with AOF, and the run_id changes', async () => {
    const server = await startRedis({ appendonly: true });
    servers.push(server);
    await withClient(server, (c) => c.set('k', 'kept'));
    const before = await server.runId();
    const pidBefore = server.pid;

    await server.shutdown();
    expect(server.pid).toBeUndefined();
    await server.restart();

    expect(server.pid).not.toBe(pidBefore);
    expect(await server.runId()).not.toBe(before);
    expect(await withClient(server, (c) => c.get('k'))).toBe('kept');
  });

  it('keeps acknowledged writes across SIGKILL with appendfsync always', async () => {
    const server = await startRedis({ appendonly: true, appendfsync: 'always' });
    servers.push(server);
    await withClient(server, async (c) => {
      for (let i = 0; i < 100; i++) await c.rpush('list', String(i));
    });
    const before = await server.runId();
    await server.kill('SIGKILL');
    await server.restart();
    expect(await server.runId()).not.toBe(before);
    expect(await withClient(server, (c) => c.llen('list'))).toBe(100);
  });

  it('loses data on restart without AOF (so the tests above can fail)', async () => {
    const server = await startRedis({ appendonly: false });
    servers.push(server);
    await withClient(server, (c) => c.set('k', 'gone'));
    await server.restart();
    expect(await withClient(server, (c) => c.get('k'))).toBeNull();
  });

  it('pauses and resumes the server, and allows DEBUG commands from loopback', async () => {
    const server = await startRedis();
    servers.push(server);
    await withClient(server, async (c) => {
      expect(await c.call('DEBUG', 'SLEEP', '0')).toBe('OK');
    });
    server.pause();
    const client = new Redis(server.url, { commandTimeout: 300, maxRetriesPerRequest: 0 });
    client.on('error', () => {});
    await expect(client.ping()).rejects.toThrow(/timed out/i);
    server.resume();
    // answers again soon after SIGCONT: poll with a deadline
    const deadline = Date.now() + 5_000;
    let answer: string | undefined;
    while (answer === undefined && Date.now() < deadline) {
      answer = await client.ping().catch(() => undefined);
    }
    expect(answer).toBe('PONG');
    client.disconnect();
  });
});
