import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';

/** A TCP proxy on a loopback port to `target_port`: cut it to simulate a network partition. */
export interface TcpProxy {
  readonly port: number;
  /** Destroys every open connection and refuses new ones until `restore`. */
  cut(): void;
  restore(): void;
  /**
   * Destroys every open connection and stops listening: a connect is refused (ECONNREFUSED),
   * as a server that is down, not one that accepts and hangs up. `up` listens on the same port again.
   */
  down(): Promise<void>;
  up(): Promise<void>;
  /** How many times `down` ran (a test can assert that its fault happened). */
  readonly downs: number;
  /** Connections destroyed by `cut` so far (a test can assert that its fault happened). */
  readonly cut_connections: number;
  /** Connections held back by `connect_delay_ms` so far. */
  readonly delayed_connections: number;
  /**
   * Chunks read from clients so far. A round trip is at least one (the client waits for the
   * answer before it writes again); bytes written back to back may arrive as one.
   */
  readonly client_chunks: number;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** Options of `startTcpProxy`. */
export interface TcpProxyOptions {
  /** Each new connection reaches the server only this long after it was accepted (a slow server or network). @default 0 */
  readonly connect_delay_ms?: number;
}

/** Starts a proxy to 127.0.0.1:`target_port` for partition tests (one client's path to a server). */
export async function startTcpProxy(target_port: number, options: TcpProxyOptions = {}): Promise<TcpProxy> {
  const sockets = new Set<Socket>();
  // the clients' sides: one per connection, piped to the server yet or still held
  const clients = new Set<Socket>();
  const delay = options.connect_delay_ms ?? 0;
  let open = true;
  let cutConnections = 0;
  let delayedConnections = 0;
  let clientChunks = 0;
  const track = (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  };
  const pipeTo = (client: Socket) => {
    const upstream = connect(target_port, '127.0.0.1');
    track(upstream);
    client.on('data', () => void clientChunks++);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  };
  const server: Server = createServer((client) => {
    if (!open) {
      client.destroy();
      return;
    }
    track(client);
    clients.add(client);
    client.on('close', () => clients.delete(client));
    if (delay === 0) return pipeTo(client);
    delayedConnections++;
    // held, not read: what the client writes meanwhile waits in the socket's buffer
    client.pause();
    const timer = setTimeout(() => pipeTo(client), delay);
    client.on('close', () => clearTimeout(timer));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let downs = 0;
  let listening = true;
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    if (!listening) return;
    listening = false;
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return {
    port,
    cut() {
      open = false;
      cutConnections += clients.size;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    async down() {
      downs++;
      cutConnections += clients.size;
      await close();
    },
    async up() {
      if (listening) return;
      server.listen(port, '127.0.0.1');
      await once(server, 'listening');
      listening = true;
    },
    get downs() {
      return downs;
    },
    get cut_connections() {
      return cutConnections;
    },
    get delayed_connections() {
      return delayedConnections;
    },
    get client_chunks() {
      return clientChunks;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
