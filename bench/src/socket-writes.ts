// Counts this process's socket writes per server port — about one per round trip to
// PostgreSQL or Redis (what a corked socket gathered counts once), and each a system call
// that costs the bot CPU time (the profile's `writeBuffer`/`writeUtf8String`/`writev`).
// Unlike latency, the count does not depend on what else the machine is running, so it shows
// a saved round trip in one run.
import { Socket } from 'node:net';

/** Starts counting; `take()` returns the writes per port since the last `take()` and restarts. */
export function countSocketWrites(ports: Readonly<Record<string, number>>): {
  take(): Record<string, number>;
} {
  const counts = new Map<number, number>();
  // the stream machinery's hand-over to the socket (`_write`, or `_writev` for what a corked
  // socket gathered): one system call each, however many `write()` calls it carries
  const proto = Socket.prototype as unknown as Record<'_write' | '_writev', (...a: unknown[]) => unknown>;
  for (const name of ['_write', '_writev'] as const) {
    const original = proto[name];
    proto[name] = function (this: Socket, ...args: unknown[]) {
      const port = this.remotePort;
      if (port !== undefined) counts.set(port, (counts.get(port) ?? 0) + 1);
      return original.apply(this, args);
    };
  }
  return {
    take() {
      const result = Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, counts.get(port) ?? 0]));
      counts.clear();
      return result;
    },
  };
}
