// ioredis 6 never ends a client told to disconnect while it waits to reconnect: its socket has
// closed already, so the close event that would end it never comes. The client stays
// `reconnecting` (one server) or `disconnecting` (a cluster) for ever, its queued commands are
// never answered, and whoever waits for it to end or be ready waits for ever. The bot's start did,
// after Redis came back from an outage during it: the event bus rebuilds a blocking read's
// connection that an outage hung and disconnects the old one, and the connector's `ready()` waited
// for that one too. Each such client was also kept for good (a leak through a long outage).
// redis/ioredis#1247 reported it; #2169, not released, fixes it.
import { Cluster, Redis } from 'ioredis';
import type { RedisClient } from './connector.js';

/** Makes `client.disconnect()` end the client (`end`, queued commands rejected) whatever its status. */
export function endWhenDisconnected(client: RedisClient): void {
  const disconnect = client.disconnect.bind(client);
  client.disconnect = (reconnect = false) => {
    const waiting = !reconnect && client.status === 'reconnecting';
    // one server: a connect that the disconnect cancels before it opens a socket, which ioredis
    // ends the client for (its public way out of this state)
    if (waiting && client instanceof Redis) client.connect().catch(() => {});
    disconnect(reconnect);
    // a cluster has none: what its pool's last close would have run (`manuallyClosing` is set:
    // the end, and its queued commands rejected)
    if (waiting && client instanceof Cluster) (client as unknown as ClusterInternals).handleCloseEvent();
  };
}

interface ClusterInternals {
  handleCloseEvent(): void;
}
