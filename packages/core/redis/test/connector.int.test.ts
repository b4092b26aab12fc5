import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startRedis, startTcpProxy, startWorker, useTestRedis } from '@diana/test-services';
import { type Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { createRedisConnector, REDIS_RETRY_MAX_MS, redisRetryDelay } from '../src/connector.js';
import { REDIS_ERROR_CODES } from '../src/errors.js';

const redis = await useTestRedis('connector');

/** A server that takes connections and never answers: no connection error ends a wait on it. */
async function startSilentServer() {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => sockets.add(socket));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    port: (server.address() as { port: number }).port,
    sockets,
    close() {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
const connector = createRedisConnector({ url: redis.url });
afterAll(() => connector.close());

describe('redisRetryDelay', () => {
  it('grows by 50 ms per attempt and stops at 1 s', () => {
    expect([1, 2, 10, 20, 21, 1_000].map(redisRetryDelay)).toEqual([50, 100, 500, 1_000, 1_000, REDIS_RETRY_MAX_MS]);
  });
});

describe('createRedisConnector', () => {
  it('hands out a command client and a blocking client on one server', async () => {
    const command = connector.command({ command_timeout_ms: 2_000 }) as Redis;
    const blocking = connector.blocking() as Redis;
    expect(command).toBeInstanceOf(Redis);
    expect(connector.cluster).toBe(false);
    // no offline queue: a command client is used once it is ready (a command before fails at once)
    await expect(command.set(`${redis.prefix}k`, 'early')).rejects.toThrow(/enableOfflineQueue/);
    await once(command, 'ready');
    await command.set(`${redis.prefix}k`, 'v');
    expect(await blocking.get(`${redis.prefix}k`)).toBe('v');
    expect(command.options.enableOfflineQueue).toBe(false);
    expect(command.options.autoResendUnfulfilledCommands).toBe(false);
    expect(blocking.options.maxRetriesPerRequest).toBeNull();
    expect(await connector.ping({ timeout_ms: 10_000 })).toBeGreaterThanOrEqual(0);
  });

  it('fails a command at once while Redis is down, then reconnects by itself', async () => {
    const server = await startRedis();
    const own = createRedisConnector({ options: { port: server.port } });
    try {
      const client = own.command({ command_timeout_ms: 500 });
      expect(await own.ping({ timeout_ms: 10_000 })).toBeGreaterThanOrEqual(0);
      await client.ping().catch(() => {});
      await server.kill();
      const started = performance.now();
      await expect(client.ping()).rejects.toThrow();
      // queued for the reconnect it would wait until the server is back (never, here): 2.5 s is
      // the 500 ms command limit with a busy machine's slack
      expect(performance.now() - started).toBeLessThan(2_500);
      await server.restart();
      const deadline = Date.now() + 10_000;
      while (client.status !== 'ready' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(await client.ping()).toBe('PONG');
    } finally {
      await own.close({ timeout_ms: 500 });
      await server.stop();
    }
  });

  it('a client disconnected while it waits to reconnect ends, and ready() no longer waits for it', async () => {
    // ioredis 6 left such a client `reconnecting` for ever, its queued commands unanswered, and
    // ready() waited for it after the server was back (the bot's start, after an outage during it)
    const server = await startRedis();
    const own = createRedisConnector({ options: { port: server.port } });
    try {
      const kept = own.blocking({ name: 'kept' }) as Redis;
      const dropped = own.blocking({ name: 'dropped' }) as Redis;
      await own.ready({ timeout_ms: 10_000 });
      await server.kill();
      const deadline = Date.now() + 10_000;
      while (dropped.status !== 'reconnecting' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(dropped.status).toBe('reconnecting'); // the fault: waiting to reconnect, no socket
      const queued = dropped.get(`${redis.prefix}q`); // a blocking client queues it for the reconnect
      const ended = once(dropped, 'end');
      dropped.disconnect();
      await expect(queued).rejects.toThrow(/Connection is closed/);
      await ended;
      expect(dropped.status).toBe('end');
      await server.restart();
      await own.ready({ timeout_ms: 10_000 });
      expect(kept.status).toBe('ready');
    } finally {
      await own.close({ timeout_ms: 500 });
      await server.stop();
    }
  });

  it('a ready() under way stops waiting for a client its owner disconnects (not a close: no E_REDIS_CLOSED)', async () => {
    // the bus drops a hung blocking connection for a new one during the bot's start: the start's
    // ready() failed with E_REDIS_CLOSED, which the bot took for the end of its connector
    const silent = await startSilentServer();
    const { sockets } = silent;
    const own = createRedisConnector({ options: { port: silent.port } });
    try {
      const clients = [own.blocking({ name: 'a' }), own.blocking({ name: 'b' })];
      const waiting = own.ready({ timeout_ms: 60_000 });
      await vi.waitFor(() => expect(sockets.size).toBe(2), { timeout: 10_000 }); // both connecting, no error
      for (const client of clients) client.disconnect();
      await expect(waiting).resolves.toBeUndefined();
      await expect(own.ready({ timeout_ms: 100 })).resolves.toBeUndefined(); // nothing left to wait for
    } finally {
      await own.close({ timeout_ms: 100 });
      silent.close();
    }
  });

  it('a cluster client disconnected while it waits to reconnect ends too', async () => {
    // every seed refuses: the cluster waits to reconnect (ioredis 6 left it `disconnecting`)
    const own = createRedisConnector({ cluster: { nodes: ['127.0.0.1:1'] } });
    try {
      const client = own.blocking() as unknown as Cluster;
      const deadline = Date.now() + 10_000;
      while (client.status !== 'reconnecting' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(client.status).toBe('reconnecting');
      const queued = client.get('k');
      const ended = once(client, 'end');
      client.disconnect();
      await expect(queued).rejects.toThrow();
      await ended;
      expect(client.status).toBe('end');
      await expect(own.ready({ timeout_ms: 5 })).resolves.toBeUndefined();
    } finally {
      await own.close({ timeout_ms: 500 });
    }
  });

  it('close ends every client it made, and is idempotent', async () => {
    const own = createRedisConnector({ url: redis.url });
    const a = own.command();
    const b = own.blocking();
    await once(a, 'ready');
    await a.ping();
    await Promise.all([own.close({ timeout_ms: 500 }), own.close()]);
    expect(a.status).toBe('end');
    expect(b.status).toBe('end');
  });

  it('waiting through an outage adds no listeners: ping and ready called again and again hold one each', async () => {
    const own = createRedisConnector({ options: { port: 1 } });
    const client = own.command();
    // ioredis itself holds one 'ready' listener while a connection attempt is under way (added
    // once the socket is made, removed when it closes): counted only when the sample lands in
    // that window, so it is left out of both counts
    const ours = () =>
      client.listeners('ready').filter((listener) => listener.name !== 'connectionReadyHandler').length;
    const before = ours();
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      for (let attempt = 0; attempt < 15; attempt++) {
        await expect(own.ping({ timeout_ms: 5 })).rejects.toThrow(/not ready/);
        await expect(own.ready({ timeout_ms: 5 })).rejects.toThrow(/not ready/);
      }
      expect(client.status).not.toBe('ready'); // the outage lasted through every call
      expect(ours()).toBe(before + 1);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await own.close();
    }
  });

  it('a command limit shorter than the handshake still connects; commands keep their limit once ready', async () => {
    await using server = await startRedis();
    // each new connection reaches the server 1.5 s after it is made: the INFO ready check
    // answers well past the 500 ms limit (ioredis timed it out and reconnected, over and over).
    // The limit is 500 ms, not less, so that a PING on a busy machine (CI's Node 24 pass) fits it.
    await using slow = await startTcpProxy(server.port, { connect_delay_ms: 1_500 });
    const own = createRedisConnector({ options: { port: slow.port } });
    try {
      const client = own.command({ command_timeout_ms: 500 }) as Redis;
      const errors: string[] = [];
      client.on('error', (error) => errors.push(error.message));
      await own.ready({ timeout_ms: 10_000 });
      expect(slow.delayed_connections).toBe(1); // one connection, and the handshake waited for it
      expect(errors).toEqual([]);
      expect(await client.ping()).toBe('PONG');
      // the limit is the command's again: a command slower than it times out
      await expect(client.call('DEBUG', 'SLEEP', '1.5')).rejects.toThrow(/Command timed out/);
    } finally {
      await own.close({ timeout_ms: 500 });
    }
  });

  it('a server that takes the connection and never answers the handshake is dropped after connectTimeout, and tried again', async () => {
    const sockets = new Set<Socket>();
    let accepted = 0;
    const silent = createServer((socket) => {
      accepted++;
      sockets.add(socket);
    });
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const port = (silent.address() as { port: number }).port;
    const own = createRedisConnector({ options: { port, connectTimeout: 300 } });
    try {
      const client = own.command({ command_timeout_ms: 5_000 });
      const [error] = (await once(client, 'error')) as [Error];
      expect(error.message).toBe('no answer to the connection handshake within 300 ms');
      await vi.waitFor(() => expect(accepted).toBeGreaterThan(1), { timeout: 5_000, interval: 20 });
      expect(client.status).not.toBe('ready');
    } finally {
      await own.close();
      silent.close();
    }
  });

  it('ping ends at the first connection error, not at its deadline: a refused server is reported at once', async () => {
    const own = createRedisConnector({ options: { port: 1 } });
    try {
      const started = performance.now();
      const error = await own.ping({ timeout_ms: 20_000 }).then(
        () => undefined,
        (reason: Error) => reason,
      );
      expect(error?.message).toMatch(/not ready \(status \w+; last error: connect ECONNREFUSED 127\.0\.0\.1:1\)$/);
      expect(performance.now() - started).toBeLessThan(10_000);
    } finally {
      await own.close();
    }
  });

  it('a failed ping leaves no timer behind: once closed, the connector keeps the process up no longer', async () => {
    // (the ping's deadline ran on after the refusal had ended it: a minute more of a closed process)
    const worker = startWorker(fileURLToPath(new URL('./fixtures/failed-ping.ts', import.meta.url)));
    try {
      const closed = await worker.waitFor('closed', 30_000);
      expect(closed.error).toMatch(/ECONNREFUSED/);
      expect(closed.timers).toEqual([]);
    } finally {
      await worker.kill();
    }
  });

  it('pings of a server that takes connections and never answers leave no listener behind', async () => {
    // no connection error ends these waits (the connection is made; the handshake never answers),
    // so each ping's own 'error' listener stays unless the ping removes it
    const silent = await startSilentServer();
    const { sockets } = silent;
    const own = createRedisConnector({ options: { port: silent.port } });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      for (let attempt = 0; attempt < 15; attempt++)
        await expect(own.ping({ timeout_ms: 5 })).rejects.toThrow(/not ready/);
      expect(sockets.size).toBeGreaterThan(0); // the connection was taken
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
      expect(warnings).not.toContain('MaxListenersExceededWarning');
    } finally {
      process.off('warning', onWarning);
      await own.close();
      silent.close();
    }
  });

  it('ping rejects within its deadline when nothing answers', async () => {
    const own = createRedisConnector({ options: { port: 1 } });
    const started = performance.now();
    await expect(own.ping({ timeout_ms: 300 })).rejects.toThrow(/not ready/);
    expect(performance.now() - started).toBeLessThan(5_000);
    await own.close();
  });

  it('each ping keeps its own deadline: a short one after a long one, a long one after a short one', async () => {
    // the shared ping client kept the first call's limit: a hung server got 30 s here, a paused one
    // failed a 10 s ping after 300 ms
    const server = await startRedis();
    const long = createRedisConnector({ options: { port: server.port } });
    const short = createRedisConnector({ options: { port: server.port } });
    try {
      await long.ping({ timeout_ms: 30_000 });
      await short.ping({ timeout_ms: 300 });
      server.pause();
      const started = performance.now();
      await expect(long.ping({ timeout_ms: 300 })).rejects.toThrow(/timed out/);
      expect(performance.now() - started).toBeLessThan(10_000); // its own 300 ms, with a busy machine's slack
      let settled = false;
      const patient = short.ping({ timeout_ms: 10_000 }).finally(() => {
        settled = true;
      });
      // the fault: the server stays paused past the first call's 300 ms
      await new Promise((resolve) => setTimeout(resolve, 800));
      expect(settled).toBe(false);
      server.resume();
      expect(await patient).toBeGreaterThanOrEqual(800);
    } finally {
      server.resume();
      await Promise.all([long.close({ timeout_ms: 500 }), short.close({ timeout_ms: 500 })]);
      await server.stop();
    }
  });

  it('close ends a ping and a ready waiting through an outage at once (E_REDIS_CLOSED); nothing is made after it', async () => {
    // a server that takes the connection and never answers: no connection error ends the waits
    const silent = await startSilentServer();
    const { sockets } = silent;
    const own = createRedisConnector({ options: { port: silent.port } });
    try {
      own.command(); // a client for ready() to wait for
      const waits = [own.ready({ timeout_ms: 60_000 }), own.ping({ timeout_ms: 60_000 })];
      const outcomes = Promise.allSettled(waits);
      await vi.waitFor(() => expect(sockets.size).toBe(2), { timeout: 10_000 }); // both connections taken
      await own.close({ timeout_ms: 100 });
      for (const outcome of await outcomes) {
        expect(outcome.status).toBe('rejected');
        expect((outcome as PromiseRejectedResult).reason).toMatchObject({ code: REDIS_ERROR_CODES.CLOSED });
      }
    } finally {
      silent.close();
    }
    expect(() => own.command()).toThrow(expect.objectContaining({ code: REDIS_ERROR_CODES.CLOSED }));
    expect(() => own.blocking()).toThrow(expect.objectContaining({ code: REDIS_ERROR_CODES.CLOSED }));
    await expect(own.ready()).rejects.toMatchObject({ code: REDIS_ERROR_CODES.CLOSED });
    await expect(own.ping()).rejects.toMatchObject({ code: REDIS_ERROR_CODES.CLOSED });
  });

  it('a wait that times out names the server and the last connection error', async () => {
    const own = createRedisConnector({ options: { port: 1 } });
    try {
      // the first refusal comes within a few ms; until then the reason is the status alone
      await vi.waitFor(
        async () => {
          const error = await own.ping({ timeout_ms: 50 }).then(
            () => undefined,
            (reason: Error) => reason,
          );
          expect(error?.message).toMatch(
            /^redis at redis:\/\/127\.0\.0\.1:1 not ready \(status \w+; last error: connect ECONNREFUSED 127\.0\.0\.1:1\)$/,
          );
        },
        { timeout: 10_000, interval: 20 },
      );
    } finally {
      await own.close();
    }
  });

  it("names the URL's database too, when it is not 0", async () => {
    const own = createRedisConnector({ url: 'redis://127.0.0.1:1/12' });
    try {
      const error = await own.ping({ timeout_ms: 5_000 }).then(
        () => undefined,
        (reason: Error) => reason,
      );
      expect(error?.message).toMatch(/^redis at redis:\/\/127\.0\.0\.1:1\/12 not ready \(status \w+; last error: /);
    } finally {
      await own.close();
    }
  });
});

describe('a Unix-domain socket', () => {
  it('unix:///path?db=N connects through the socket, to that database', async () => {
    const socketDir = mkdtempSync(join(tmpdir(), 'diana-redis-socket-'));
    const path = join(socketDir, 'redis.sock');
    await using server = await startRedis({ args: ['--unixsocket', path, '--unixsocketperm', '700'] });
    const viaSocket = createRedisConnector({ url: `unix://${path}?db=3` });
    try {
      expect(viaSocket.where).toBe(`unix://${path}`);
      expect(createRedisConnector({ url: `${path}?db=1` }).where).toBe(`unix://${path}`); // ioredis's bare path
      const client = viaSocket.command() as Redis;
      await viaSocket.ready({ timeout_ms: 5_000 });
      // flags U: this connection is the socket's (a TCP one has N)
      expect(String(await client.call('CLIENT', 'INFO'))).toMatch(/ flags=\w*U\w* (.* )?db=3 /);
      await client.set('socket-key', 'v');
      const overTcp = new Redis(`${server.url}/3`, { lazyConnect: true });
      await overTcp.connect();
      expect(await overTcp.get('socket-key')).toBe('v');
      expect(String(await overTcp.call('CLIENT', 'INFO'))).toMatch(/ flags=N /);
      overTcp.disconnect();
    } finally {
      await viaSocket.close();
      rmSync(socketDir, { recursive: true, force: true });
    }
  });

  it('a database the server does not have (?db=N, /N) stops the client before it is ready: never database 0', async () => {
    const socketDir = mkdtempSync(join(tmpdir(), 'diana-redis-socket-'));
    const path = join(socketDir, 'redis.sock');
    await using server = await startRedis({ args: ['--unixsocket', path, '--databases', '4'] });
    try {
      for (const url of [`unix://${path}?db=7`, `${server.url}/7`]) {
        const wrongDb = createRedisConnector({ url });
        const client = wrongDb.command() as Redis;
        await expect(wrongDb.ready({ timeout_ms: 3_000 }), url).rejects.toThrow(/DB index is out of range/);
        if (client.status !== 'end') await once(client, 'end'); // stopped, not reconnecting
        await expect(client.set('k', 'v')).rejects.toThrow();
        await expect(wrongDb.ping({ timeout_ms: 3_000 })).rejects.toThrow(/refused database \d+ of its URL/);
        await expect(wrongDb.ping({ timeout_ms: 3_000 })).rejects.toMatchObject({
          code: REDIS_ERROR_CODES.DATABASE_REFUSED,
        });
        await wrongDb.close();
      }
      const check = new Redis(server.url, { lazyConnect: true });
      await check.connect();
      expect(await check.dbsize()).toBe(0); // nothing was written to database 0
      check.disconnect();
    } finally {
      rmSync(socketDir, { recursive: true, force: true });
    }
  });

  it('refuses a socket URL with a host, credentials or another query, at creation', () => {
    for (const url of [
      'unix://localhost/tmp/r.sock',
      'unix://:pw@/tmp/r.sock',
      'unix:///tmp/r.sock?password=pw',
      'unix:///tmp/r.sock?db=x',
      'unix:///tmp/r.sock?db=1&db=2',
    ])
      expect(() => createRedisConnector({ url }), url).toThrow(
        expect.objectContaining({
          code: 'E_UTILS_VALIDATION',
          message: expect.stringContaining('unix:///absolute/path/to/redis.sock'),
        }),
      );
  });

  it('refuses a TCP URL whose path is not a database number, at creation (ioredis sent SELECT NaN)', () => {
    for (const url of ['redis://127.0.0.1:6379/x', 'redis://:s3cret@127.0.0.1:6379/-1', 'rediss://h:6380/2/3'])
      try {
        createRedisConnector({ url });
        expect.unreachable(url);
      } catch (error) {
        expect((error as { code?: string }).code, url).toBe('E_UTILS_VALIDATION');
        expect((error as Error).message).toContain('redis://host:6379/2');
        expect((error as Error).message).not.toContain('s3cret');
      }
    for (const url of ['redis://127.0.0.1:6379', 'redis://127.0.0.1:6379/', 'redis://127.0.0.1:6379/12'])
      expect(() => createRedisConnector({ url }).close(), url).not.toThrow();
  });
});
