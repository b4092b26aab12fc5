// One server's client resubscribes by itself after a reconnect. ioredis 6.0.0 does it with a
// SUBSCRIBE nobody awaits: a client closed before that SUBSCRIBE is answered (a shutdown right
// after Redis came back) rejects it unhandled, and Node's default ends the process with an error
// (CI saw it in the cache's chaos test; fixed upstream after 6.0.0, redis/ioredis#2187). So
// ioredis's own resubscribe is off (`autoResubscribe: false`) and the client keeps its own list of
// what its callers subscribed to, sent again on every later `ready`, its failures handled; one that
// fails is tried again at the next reconnect, since the list is not the connection's.
import type { Redis } from 'ioredis';

const KINDS = [
  ['subscribe', 'unsubscribe'],
  ['psubscribe', 'punsubscribe'],
  ['ssubscribe', 'sunsubscribe'],
] as const;

type Method = (...args: unknown[]) => Promise<unknown>;

/** The channel names among a (un)subscribe call's arguments: strings, Buffers or arrays of them, a callback last. */
const channelsOf = (args: readonly unknown[]): string[] =>
  args
    .flat()
    .filter((arg): arg is string | Buffer => typeof arg === 'string' || Buffer.isBuffer(arg))
    .map(String);

/** Makes `client` (created with `autoResubscribe: false`) resubscribe from its own list on every `ready` after the first. */
export function resubscribeOnReady(client: Redis, onError: (error: unknown, kind: string) => void): void {
  const methods = client as unknown as Record<string, Method>;
  const tracked = KINDS.map(([kind, undo]) => {
    const list = new Set<string>();
    const add = methods[kind] as Method;
    const remove = methods[undo] as Method;
    methods[kind] = (...args) => {
      for (const channel of channelsOf(args)) list.add(channel);
      return add.apply(client, args);
    };
    methods[undo] = (...args) => {
      const channels = channelsOf(args);
      if (channels.length === 0) list.clear();
      else for (const channel of channels) list.delete(channel);
      return remove.apply(client, args);
    };
    return { kind, list, add };
  });
  // the first `ready` sends what was subscribed before it (the offline queue)
  let connectedBefore = false;
  client.on('ready', () => {
    if (!connectedBefore) {
      connectedBefore = true;
      return;
    }
    for (const { kind, list, add } of tracked) {
      if (list.size === 0) continue;
      // one call per channel for ssubscribe (a sharded channel each), all at once for the others
      const calls = kind === 'ssubscribe' ? [...list].map((channel) => [channel]) : [[...list]];
      for (const channels of calls) add.apply(client, channels).catch((error: unknown) => onError(error, kind));
    }
  });
}
