import type { RedisOptions } from 'ioredis';

/** A seed node of a cluster: `host:port`, `redis://[user:password@]host:port` (or `rediss://`), or `{ host, port }`. */
export type ClusterNodeInput = string | { readonly host: string; readonly port: number };

/** Seed addresses for `new Cluster`, and the node options (credentials, TLS) the first URL carries. */
export function clusterSeeds(inputs: readonly ClusterNodeInput[]): {
  nodes: Array<{ host: string; port: number }>;
  options: RedisOptions;
} {
  if (inputs.length === 0) throw new Error('redis cluster: no nodes given');
  let options: RedisOptions | undefined;
  const nodes = inputs.map((input) => {
    if (typeof input !== 'string') return { host: input.host, port: input.port };
    if (!input.includes('://')) {
      const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(input.trim());
      if (!match?.[1]) throw new Error(`redis cluster: "${input}" is not host:port`);
      return { host: match[1], port: Number(match[2]) };
    }
    const url = new URL(input);
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw new Error(`redis cluster: ${url.protocol} is not redis: or rediss:`);
    }
    options ??= {
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    };
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) };
  });
  return { nodes, options: options ?? {} };
}
