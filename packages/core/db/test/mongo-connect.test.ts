// createMongo's wait for a server, with no MongoDB server at all (none can run here): a port that
// refuses, one that drops each connection, one that never answers. What a start waiting for
// MongoDB shows.
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { isDianaError } from '@diana/utils';
import { afterAll, describe, expect, it } from 'vitest';
import { createMongo } from '../src/mongo.js';

/** A TCP server that accepts connections and then either never answers or drops them at once. */
async function fakeServer(behaviour: 'silent' | 'drops') {
  const open = new Set<Socket>();
  let accepted = 0;
  const server = createServer((socket) => {
    accepted++;
    socket.on('error', () => {});
    if (behaviour === 'drops') return void socket.destroy();
    open.add(socket);
    socket.on('close', () => open.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  return {
    url: `mongodb://127.0.0.1:${port}/x`,
    accepted: () => accepted,
    close: () => {
      for (const socket of open) socket.destroy();
      return new Promise((resolve) => server.close(resolve));
    },
  };
}

describe('createMongo, waiting for a server', () => {
  const servers: Array<{ close(): Promise<unknown> }> = [];
  afterAll(() => Promise.all(servers.map((server) => server.close())));

  it('ended by its signal, rejects with the refusal a server gave, long before the server selection timeout', async () => {
    const started = performance.now();
    // 8 s: on a machine busy with every package's tests the first refused heartbeat took longer
    // than 700 ms to come, and once (CI's Node 22 pass, load 13 on 2 cores) longer than 3 s;
    // server selection is 30 s here, so an end well before it is the signal's
    const error = await createMongo(
      { url: 'mongodb://127.0.0.1:1/x', server_selection_timeout_ms: 30_000 },
      { signal: AbortSignal.timeout(8_000) },
    ).catch((e: unknown) => e);
    const took = performance.now() - started;
    expect(isDianaError(error, 'E_DB_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toBe('MongoDB is not reachable: connect ECONNREFUSED 127.0.0.1:1');
    expect(took).toBeGreaterThanOrEqual(7_950); // it waited for its signal (a server may come up meanwhile)…
    expect(took).toBeLessThan(25_000); // …not the 30 s of server selection
  });

  it('ended by its signal, closes the client: its monitor stops connecting again', async () => {
    const server = await fakeServer('drops');
    servers.push(server);
    // 2.5 s: about four connects at 500 ms apart (1.2 s allowed two only if the first came within
    // 700 ms, which a busy machine once missed)
    const error = await createMongo({ url: server.url }, { signal: AbortSignal.timeout(2_500) }).catch(
      (e: unknown) => e,
    );
    expect(isDianaError(error, 'E_DB_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toMatch(/^MongoDB is not reachable: /);
    expect((error as Error).message).not.toContain('no server answered'); // the drop is the reason
    // the fault: the monitor connected and was dropped, more than once (it retries every 500 ms)
    // (a connect begun just before the end may be accepted just after it: counted once two reads
    // 300 ms apart agree, less than the monitor's 500 ms between connects)
    let accepted = server.accepted();
    for (let i = 0; i < 10; i++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      if (server.accepted() === accepted) break;
      accepted = server.accepted();
    }
    expect(accepted).toBeGreaterThan(1);
    // a client left open would go on until the server selection timeout (10 s)
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect(server.accepted()).toBe(accepted);
  });

  it('ended by its signal while a server never answers: says that no server answered', async () => {
    const server = await fakeServer('silent');
    servers.push(server);
    const error = await createMongo({ url: server.url }, { signal: AbortSignal.timeout(500) }).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_DB_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toBe('MongoDB is not reachable: no server answered before the wait ended');
    expect(server.accepted()).toBeGreaterThan(0); // the fault: the driver connected and got no answer
    // (the driver leaves a connection still in its handshake open when the client closes)
  });

  it('a signal already aborted rejects at once', async () => {
    const error = await createMongo({ url: 'mongodb://127.0.0.1:1/x' }, { signal: AbortSignal.abort() }).catch(
      (e: unknown) => e,
    );
    expect(isDianaError(error, 'E_DB_UNAVAILABLE')).toBe(true);
  });

  it('without a signal, waits out the server selection timeout and names the refusal', async () => {
    const error = await createMongo({ url: 'mongodb://127.0.0.1:1/x', server_selection_timeout_ms: 300 }).catch(
      (e: unknown) => e,
    );
    expect(isDianaError(error, 'E_DB_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toBe('MongoDB is not reachable: connect ECONNREFUSED 127.0.0.1:1');
  });
});
