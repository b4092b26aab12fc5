import { DianaError, ERROR_CODES } from '@diana/utils';
import type { RedisOptions } from 'ioredis';

/** A seed node of a cluster: `host:port`, `redis://[user:password@]host:port` (or `rediss://`), or `{ host, port }`. */
export type ClusterNodeInput = string | { readonly host: string; readonly port: number };

/** Seed addresses for `new Cluster`, and the node options (credentials, TLS) the first URL carries. */
export function clusterSeeds(inputs: readonly ClusterNodeInput[]): {
  nodes: Array<{ host: string; port: number }>;
  options: RedisOptions;
} {
  if (inputs.length === 0) throw invalid('no nodes given');
  let options: RedisOptions | undefined;
  const nodes = inputs.map((input, index) => {
    if (typeof input !== 'string') return checked({ host: input.host, port: input.port }, index);
    if (!input.includes('://')) {
      const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(input.trim());
      if (!match?.[1]) throw invalid(`node ${index + 1} is not host:port`);
      return checked({ host: match[1], port: Number(match[2]) }, index);
    }
    let url: URL;
    try {
      url = new URL(input);
    } catch {
      throw invalid(`node ${index + 1} is neither host:port nor a URL`);
    }
    if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
      throw invalid(`node ${index + 1}: ${url.protocol} is not redis: or rediss:`);
    }
    options ??= {
      ...(url.username ? { username: decodeURIComponent(url.username) } : {}),
      ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
      ...(url.protocol === 'rediss:' ? { tls: {} } : {}),
    };
    return checked({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port || 6379) }, index);
  });
  return { nodes, options: options ?? {} };
}

// (the messages name the node by its place, not its text: a URL may hold a password)
const invalid = (why: string) => new DianaError(ERROR_CODES.VALIDATION, `redis cluster: ${why}`);

function checked(node: { host: string; port: number }, index: number): { host: string; port: number } {
  if (typeof node.host !== 'string' || node.host === '') throw invalid(`node ${index + 1} has no host`);
  if (!Number.isInteger(node.port) || node.port < 1 || node.port > 65_535)
    throw invalid(`node ${index + 1}: port ${node.port} is not 1–65535`);
  return node;
}
