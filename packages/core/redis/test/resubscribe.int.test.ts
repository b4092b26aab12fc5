// A subscriber closed, or cut off again, while it resubscribes after a reconnect. ioredis 6.0.0
// sends that SUBSCRIBE with nobody awaiting it: disconnected before the answer, its rejection was
// unhandled (Node's default ends the process; CI saw it in the cache's chaos test, whose store
// disconnects its subscriber on close). The connector's clients resubscribe from their own list.
// Without that, the first case fails with "Connection is closed." (checked).
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { useTestRedis } from '@diana/test-services';
import type { Redis } from 'ioredis';
import { afterAll, expect, it } from 'vitest';
import { createRedisConnector } from '../src/connector.js';

const redis = await useTestRedis('resubscribe');
const target = Number(new URL(redis.url).port || 6379);

// Forwards to Redis. On the second connection (the reconnect), what the client sends from its
// SUBSCRIBE on (after the ready check: the resubscribe) is held — never answered — or the
// connection is dropped there.
let second: 'hold' | 'drop' = 'drop';
let connections = 0;
let caught = 0;
const sockets = new Set<Socket>();
const proxy = createServer((client) => {
  const n = ++connections;
  const upstream = connect(target, '127.0.0.1');
  for (const socket of [client, upstream]) {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  }
  client.on('data', (chunk: Buffer) => {
    if (n === 2 && /subscribe/i.test(chunk.toString('latin1'))) {
      caught++;
      if (second === 'drop') {
        client.destroy();
        upstream.destroy();
      }
      return;
    }
    upstream.write(chunk);
  });
  upstream.pipe(client);
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
});
proxy.listen(0, '127.0.0.1');
await once(proxy, 'listening');
const port = (proxy.address() as { port: number }).port;
const publisher = createRedisConnector({ url: redis.url });
afterAll(async () => {
  await publisher.close();
  for (const socket of sockets) socket.destroy();
  proxy.close();
});

/** Runs `body` and returns the unhandled rejections it left (after their turn). */
const unhandledDuring = async (body: () => Promise<void>) => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    await body();
    // Node reports an unhandled rejection once the turn's microtasks have run: before the next immediate
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
  return unhandled;
};
const fresh = (mode: typeof second) => {
  second = mode;
  connections = 0;
  caught = 0;
  return createRedisConnector({ options: { host: '127.0.0.1', port } });
};
/** Waits until the proxy has seen `n` connections. */
const untilConnections = async (n: number) => {
  const deadline = Date.now() + 10_000;
  while (connections < n && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(connections).toBeGreaterThanOrEqual(n);
};

it('closed while its resubscribe is unanswered: no unhandled rejection', async () => {
  const connector = fresh('hold');
  const unhandled = await unhandledDuring(async () => {
    const subscriber = connector.blocking({ name: 'resubscribe-test' }) as Redis;
    await subscriber.subscribe(`${redis.prefix}held`);
    for (const socket of sockets) socket.destroy(); // the first connection ends
    await untilConnections(2);
    const deadline = Date.now() + 10_000;
    while (caught === 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(caught).toBe(1); // the fault: the reconnect's SUBSCRIBE is on its way, unanswered
    subscriber.disconnect(); // as a store's close does (no QUIT)
    await connector.close({ timeout_ms: 100 });
  });
  expect(unhandled).toEqual([]);
}, 30_000);

it('cut off while it resubscribes: the subscription is back on the next connection', async () => {
  const connector = fresh('drop');
  const unhandled = await unhandledDuring(async () => {
    const channel = `${redis.prefix}news`;
    const subscriber = connector.blocking({ name: 'resubscribe-test' }) as Redis;
    const received: string[] = [];
    subscriber.on('message', (_channel: string, message: string) => received.push(message));
    await subscriber.subscribe(channel);
    const command = publisher.command() as Redis;
    await once(command, 'ready');

    // the first connection ends: the client reconnects, and its resubscribe is cut off
    for (const socket of sockets) socket.destroy();
    await untilConnections(3);
    expect(caught).toBe(1); // the fault happened
    const deadline = Date.now() + 10_000;

    // on the third connection the subscription is back: a message published now arrives
    for (let n = 0; received.length === 0 && Date.now() < deadline; n++) {
      await command.publish(channel, `after-${n}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(received[0]).toMatch(/^after-/);
    await connector.close();
  });
  expect(unhandled).toEqual([]);
}, 30_000);
