// Counts this process's socket writes and reads per server port. A write is about one round
// trip to PostgreSQL or Redis (what a corked socket gathered counts once), each a system call
// that costs the bot CPU time (the profile's `writeBuffer`/`writeUtf8String`/`writev`). A read
// is a chunk the socket handed up after the event loop found it readable: an answer, a part of
// one, or a message nobody asked for just then (a NOTIFY, a blocking read's reply). PostgreSQL
// flushes its output at each Sync, one per statement, so statements sent in one write can come
// back in as many reads. Unlike latency, the writes do not depend on what else the machine is
// running, so they show a saved round trip in one run; the reads do (answers that arrive
// together are read together).
import { Socket } from 'node:net';

/** Writes and reads per named server since the last `take()`. */
export interface SocketIo {
  readonly writes: Record<string, number>;
  readonly reads: Record<string, number>;
}

/** A server's TCP port, or the path of its Unix-domain socket. */
export type ServerAddress = number | string;

// a Unix socket's path, kept from its connect (Node's socket says neither port nor path): from
// the moment this module is loaded, before the bench makes any connection
const socketPaths = new WeakMap<Socket, string>();
const socketProto = Socket.prototype as unknown as { connect: (...a: unknown[]) => unknown };
const connect = socketProto.connect;
socketProto.connect = function (this: Socket, ...args: unknown[]) {
  // net.connect(path) hands over its arguments normalized: [[options, callback]]
  const first = Array.isArray(args[0]) ? args[0][0] : args[0];
  const path = typeof first === 'string' ? first : (first as { path?: unknown } | undefined)?.path;
  if (typeof path === 'string') socketPaths.set(this, path);
  return connect.apply(this, args);
};

/** The port or socket path `socket` is connected to (undefined for any other stream). */
export function serverOf(socket: Socket): ServerAddress | undefined {
  return socket.remotePort ?? socketPaths.get(socket);
}

/** Starts counting; `take()` returns the counts per server's name since the last `take()` and restarts. */
export function countSocketIo(servers: Readonly<Record<string, ServerAddress>>): { take(): SocketIo } {
  const writes = new Map<ServerAddress, number>();
  const reads = new Map<ServerAddress, number>();
  const count = (counts: Map<ServerAddress, number>, socket: Socket) => {
    const server = serverOf(socket);
    if (server !== undefined) counts.set(server, (counts.get(server) ?? 0) + 1);
  };
  const proto = Socket.prototype as unknown as Record<'_write' | '_writev' | 'push', (...a: unknown[]) => unknown>;
  // the stream machinery's hand-over to the socket (`_write`, or `_writev` for what a corked
  // socket gathered): one system call each, however many `write()` calls it carries
  for (const name of ['_write', '_writev'] as const) {
    const original = proto[name];
    proto[name] = function (this: Socket, ...args: unknown[]) {
      count(writes, this);
      return original.apply(this, args);
    };
  }
  // each chunk libuv read, as the socket pushes it to its readers (null: the end of the stream)
  const push = proto.push;
  proto.push = function (this: Socket, ...args: unknown[]) {
    if (args[0] !== null) count(reads, this);
    return push.apply(this, args);
  };
  const byName = (counts: Map<ServerAddress, number>) =>
    Object.fromEntries(Object.entries(servers).map(([name, server]) => [name, counts.get(server) ?? 0]));
  return {
    take() {
      const result = { writes: byName(writes), reads: byName(reads) };
      writes.clear();
      reads.clear();
      return result;
    },
  };
}
