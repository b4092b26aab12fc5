import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A TCP proxy on a loopback port to `target_port`: cut it to simulate a network partition. */
export interface TcpProxy {
  readonly port: number;
  /** Destroys every open connection and refuses new ones until `restore`. */
  cut(): void;
  restore(): void;
  /** Connections destroyed by `cut` so far (a test can assert that its fault happened). */
  readonly cut_connections: number;
  /**
   * Chunks read from clients so far. A round trip is at least one (the client waits for the
   * answer before it writes again); bytes written back to back may arrive as one.
   */
  readonly client_chunks: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Starts a proxy to 127.0.0.1:`target_port` for partition tests (one client's path to a server). */
export async function startTcpProxy(target_port: number): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  let open = true;
  let cutConnections = 0;
  let clientChunks = 0;
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    const upstream = connect(target_port, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    client.on('data', () => void clientChunks++);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port,
    cut() {
      open = false;
      cutConnections += sockets.size / 2;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    get cut_connections() {
      return cutConnections;
    },
    get client_chunks() {
      return clientChunks;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
