// Counts this process's socket writes per server port — about one per round trip to
// PostgreSQL or Redis, and each a system call that costs the bot CPU time (the profile's
// `writeBuffer`/`writeUtf8String`). Unlike latency, the count does not depend on what else
// the machine is running, so it shows a saved round trip in one run.
import { Socket } from 'node:net';

/** Starts counting; `take()` returns the writes per port since the last `take()` and restarts. */
export function countSocketWrites(ports: Readonly<Record<string, number>>): {
  take(): Record<string, number>;
} {
  const counts = new Map<number, number>();
  const original = Socket.prototype.write;
  Socket.prototype.write = function (this: Socket, ...args: unknown[]) {
    const port = this.remotePort;
    if (port !== undefined) counts.set(port, (counts.get(port) ?? 0) + 1);
    return (original as (...a: unknown[]) => boolean).apply(this, args);
  } as typeof original;
  return {
    take() {
      const result = Object.fromEntries(Object.entries(ports).map(([name, port]) => [name, counts.get(port) ?? 0]));
      counts.clear();
      return result;
    },
  };
}
