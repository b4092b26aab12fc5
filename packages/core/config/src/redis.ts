import { secretUrl } from '@diana/utils';
import * as v from 'valibot';

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

/** `host:port,host:port,…` → the list (blanks dropped); every entry must be `host:port`. */
const clusterNodes = v.pipe(
  v.string(),
  v.transform((text) =>
    text
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  ),
  v.check((nodes) => nodes.length > 0, 'expected at least one host:port'),
  v.check((nodes) => nodes.every((node) => HOST_PORT.test(node)), 'expected comma-separated host:port entries'),
  v.check(
    (nodes) => nodes.every((node) => inPortRange(Number(node.slice(node.lastIndexOf(':') + 1)))),
    'expected ports 1–65535',
  ),
);

const inPortRange = (port: number) => port >= 1 && port <= 65_535;

/**
 * The `redis` section: `url` behind `DIANA_REDIS_URL` and its alias `REDIS_URL` (`redis://`,
 * `rediss://`, or `unix:///path/redis.sock[?db=N]` for a socket on this host; a secret: shown
 * masked), and `cluster_nodes` behind `DIANA_REDIS_CLUSTER_NODES`
 * (comma-separated `host:port` seeds of a Redis Cluster; with it, every client is a cluster
 * client, and `url`, when also set, gives the credentials and TLS for every node and is one more
 * seed). Both unset is allowed (apps fall back to memory adapters); require Redis with
 * `v.object({ url: RedisConfig.entries.url.wrapped })` where it is mandatory.
 */
export const RedisConfig = v.object({
  url: v.optional(
    secretUrl({
      protocols: ['redis', 'rediss', 'unix'],
      refine: {
        // ioredis reads a TCP URL's path as the database number: `/x` was `SELECT NaN` at connect
        // (a socket's `?db=N` is checked where its URL is read, in @diana/redis)
        test: (url) => url.protocol === 'unix:' || /^\/?(\d{1,5})?$/.test(url.pathname),
        expected:
          'a URL (redis://, rediss://, unix://) whose path, when it has one, is the database number (redis://host:6379/2)',
      },
    }),
  ),
  cluster_nodes: v.optional(clusterNodes),
});
/** Parsed `RedisConfig`. */
export type RedisConfig = v.InferOutput<typeof RedisConfig>;
