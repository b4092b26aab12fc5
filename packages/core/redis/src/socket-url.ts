import { DianaError, ERROR_CODES, parseOrThrow, secretUrl } from '@diana/utils';
import type { RedisOptions } from 'ioredis';

const SHAPE = 'redis: a socket URL is unix:///absolute/path/to/redis.sock, with at most ?db=<number>';
// the strict reader of every URL setting, told to take only unix:///absolute/path[?query]
const SOCKET_URL = secretUrl({ protocols: ['unix'] });

/** True when `url` has the `unix:` scheme (well formed or not). */
export function isSocketUrl(url: string): boolean {
  return /^\s*unix:/i.test(url);
}

/**
 * ioredis's `path` and `db` of `unix:///path/to/redis.sock[?db=N]`: a Redis server reached
 * through a Unix-domain socket on this host (the form redis-py reads). No credentials: a URL
 * cannot put them before an empty host, and the socket file's permissions (`unixsocketperm`)
 * are what guards it. Any other shape or query throws `E_UTILS_VALIDATION`.
 */
export function socketOptions(url: string): Pick<RedisOptions, 'path' | 'db'> {
  const parsed = new URL(parseOrThrow(SOCKET_URL, url, { message: SHAPE }).reveal());
  const keys = [...parsed.searchParams.keys()];
  const db = parsed.searchParams.get('db');
  if (keys.some((key) => key !== 'db') || keys.length > 1 || (db !== null && !/^\d{1,5}$/.test(db)))
    throw new DianaError(ERROR_CODES.VALIDATION, SHAPE);
  const path = decodeURIComponent(parsed.pathname);
  return db === null ? { path } : { path, db: Number(db) };
}
