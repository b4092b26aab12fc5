// @diana/cache/adapters/redis: the shared tier on Redis.
import type { RedisConnector } from '@diana/redis';
import { createEventWaiter, getPackageLogger, type Logger, parseOrThrow } from '@diana/utils';
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import { CacheConfig, type CacheConfigInput } from '../config.js';
import { CACHE_ERROR_CODES } from '../errors.js';
import type { CacheStore, CacheStoreListener, Invalidation, StoredEntry } from '../types.js';

/** What `createRedisCacheStore` needs besides its config. */
export interface RedisCacheStoreDeps {
  /** Hands out the store's command and subscriber clients (the app's one connector; never closed here). */
  readonly connector: RedisConnector;
  readonly logger?: Logger;
}

const RELEASE_LEASE = `
-- release-lease: deletes the lease only if this process still holds it.
-- KEYS[1] lease key   ARGV[1] token   Returns 1 when deleted.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Redis as the shared tier: entries (`<prefix>v:<key>`), tag sets (`<prefix>t:<tag>`), refresh
 * leases (`<prefix>l:<key>`) and an invalidation channel (`<prefix>invalidate`). Commands fail
 * fast (no offline queue, a time limit) and go through a circuit breaker; a failing Redis is
 * treated as a miss, never as an error. It reads `key_prefix`, `command_timeout_ms` and the
 * breaker keys of the cache's own config (pass the same section to both); its two clients come
 * from the connector and are closed with the store (the cache closes its store).
 */
export function createRedisCacheStore(config: CacheConfigInput, deps: RedisCacheStoreDeps): CacheStore {
  const options = parseOrThrow(CacheConfig, config, {
    code: CACHE_ERROR_CODES.CACHE_CONFIG,
    message: 'invalid cache config',
  });
  const logger = getPackageLogger(deps.logger, 'cache');
  const client = deps.connector.command({ command_timeout_ms: options.command_timeout_ms, name: 'cache' });
  const subscriber = deps.connector.blocking({ name: 'cache-invalidation' });
  const listeners = new Set<CacheStoreListener>();
  const p = options.key_prefix;
  const channel = `${p}invalidate`;
  const breaker = circuitBreaker(handleAll, {
    halfOpenAfter: options.breaker_cooldown_ms,
    breaker: new ConsecutiveBreaker(options.breaker_threshold),
  });
  let failures = 0;
  breaker.onBreak(() =>
    logger.warn({ cooldown_ms: options.breaker_cooldown_ms }, 'redis failing: cache serves memory and factories'),
  );
  breaker.onReset(() => logger.info('redis answers again: shared cache tier back'));

  // No offline queue: a command waits for the connection at most the command timeout.
  const waitReady = createEventWaiter(client, 'ready', () => 'redis not connected');
  const ready = () => (client.status === 'ready' ? Promise.resolve() : waitReady(options.command_timeout_ms));

  const guard = async <T>(op: () => Promise<T>, fallback: T): Promise<T> => {
    try {
      return await breaker.execute(async () => {
        await ready();
        return op();
      });
    } catch {
      failures++;
      return fallback;
    }
  };

  let everReady = false;
  subscriber.on('ready', () => {
    if (everReady) for (const listener of listeners) listener.onResubscribed();
    everReady = true;
  });
  subscriber.on('message', (_channel: string, raw: string) => {
    try {
      const message = JSON.parse(raw) as Invalidation;
      for (const listener of listeners) listener.onInvalidation(message);
    } catch (error) {
      logger.debug({ err: error }, 'unreadable invalidation message');
    }
  });
  subscriber
    .subscribe(channel)
    .catch((error: unknown) => logger.warn({ err: error }, 'cache invalidation subscribe failed'));

  return {
    name: 'redis',
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get: (key) =>
      guard(async () => {
        const raw = await client.get(`${p}v:${key}`);
        return raw ? (JSON.parse(raw) as StoredEntry) : undefined;
      }, undefined),
    set: (key, entry, ttl_ms) =>
      guard(async () => {
        const pipeline = client.multi();
        pipeline.set(`${p}v:${key}`, JSON.stringify(entry), 'PX', Math.max(1, ttl_ms));
        for (const tag of entry.t) {
          pipeline.sadd(`${p}t:${tag}`, key);
          // tag sets live as long as their longest entry (GT: only ever lengthened; Redis 7.0)
          pipeline.pexpire(`${p}t:${tag}`, Math.max(1, ttl_ms), 'GT');
          pipeline.pexpire(`${p}t:${tag}`, Math.max(1, ttl_ms), 'NX');
        }
        await pipeline.exec();
      }, undefined),
    delete: (key) =>
      guard(async () => {
        await client.unlink(`${p}v:${key}`);
      }, undefined),
    deleteByTag: (tag) =>
      guard(async () => {
        const keys = await client.smembers(`${p}t:${tag}`);
        if (keys.length > 0) await client.unlink(...keys.map((key) => `${p}v:${key}`));
        await client.unlink(`${p}t:${tag}`);
      }, undefined),
    clear: (prefix) =>
      guard(async () => {
        // SCAN + UNLINK within our own prefix; never KEYS.
        const pattern = `${p}v:${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
        let cursor = '0';
        do {
          const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
          cursor = next;
          if (keys.length > 0) await client.unlink(...keys);
        } while (cursor !== '0');
      }, undefined),
    acquireLease: (key, token, ttl_ms) =>
      guard(async () => (await client.set(`${p}l:${key}`, token, 'PX', ttl_ms, 'NX')) === 'OK', true),
    releaseLease: (key, token) =>
      guard(async () => {
        await client.eval(RELEASE_LEASE, 1, `${p}l:${key}`, token);
      }, undefined),
    publish: (message) =>
      guard(async () => {
        await client.publish(channel, JSON.stringify(message));
      }, undefined),
    get breakerOpen() {
      return breaker.state === CircuitState.Open;
    },
    get failures() {
      return failures;
    },
    async close() {
      listeners.clear();
      client.disconnect();
      subscriber.disconnect();
    },
  };
}
