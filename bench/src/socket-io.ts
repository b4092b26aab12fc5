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

/** Starts counting; `take()` returns the counts per port's name since the last `take()` and restarts. */
export function countSocketIo(ports: Readonly<Record<string, number>>): { take(): SocketIo } {
  const writes = new Map<number, number>();
  const reads = new Map<number, number>();
  const count = (counts: Map<number, number>, port: number | undefined) => {
    if (port !== undefined) counts.set(port, (counts.get(port) ?? 0) + 1);
  };
  const proto = Socket.prototype as unknown as Record<'_write' | '_writev' | 'push', (...a: unknown[]) => unknown>;
  // the stream machinery's hand-over to the socket (`_write`, or `_writev` for what a corked
  // socket gathered): one system call each, however many `write()` calls it carries
  for (const name of ['_write', '_writev'] as const) {
    const original = proto[name];
    proto[name] = function (this: Socket, ...args: unknown[]) {
      count(writes, this.remotePort);
      return original.apply(this, args);
    };
  }
  // each chunk libuv read, as the socket pushes it to its readers (null: the end of the stream)
  const push = proto.push;
  proto.push = function (this: Socket, ...args: unknown[]) {
    if (args[0] !== null) count(reads, this.remotePort);
    return push.apply(this, args);
  };
  const byName = (counts: Map<number, number>) =>
    Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, counts.get(port) ?? 0]));
  return {
    take() {
      const result = { writes: byName(writes), reads: byName(reads) };
      writes.clear();
      reads.clear();
      return result;
    },
  };
}
