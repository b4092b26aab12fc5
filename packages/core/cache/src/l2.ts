import { createEventWaiter, getPackageLogger, type Logger } from '@diana/utils';
import { CircuitState, ConsecutiveBreaker, circuitBreaker, handleAll } from 'cockatiel';
import { Redis, type RedisOptions } from 'ioredis';

/** An entry as stored in Redis. */
export interface StoredEntry {
  /** serialized value */
  readonly v: string;
  readonly e: number;
  readonly s: number;
  readonly t: readonly string[];
}

/** An invalidation heard from another process. */
export interface Invalidation {
  readonly o: string;
  readonly k?: string;
  readonly t?: string;
  readonly p?: string;
}

/** The Redis tier behind a circuit breaker: every method answers, none throws. */
export interface L2 {
  get(key: string): Promise<StoredEntry | undefined>;
  set(key: string, entry: StoredEntry, ttl_ms: number): Promise<void>;
  delete(key: string): Promise<void>;
  deleteByTag(tag: string): Promise<void>;
  clear(prefix: string): Promise<void>;
  /** True when this process may run the factory (or when Redis cannot say). */
  acquireLease(key: string, token: string, ttl_ms: number): Promise<boolean>;
  releaseLease(key: string, token: string): Promise<void>;
  publish(message: Invalidation): Promise<void>;
  readonly breakerOpen: boolean;
  readonly failures: number;
  close(): Promise<void>;
}

/** Options of the Redis tier. */
export interface L2Options {
  readonly redis: Redis | RedisOptions;
  readonly key_prefix: string;
  readonly command_timeout_ms: number;
  readonly breaker_threshold: number;
  readonly breaker_cooldown_ms: number;
  readonly onInvalidation: (message: Invalidation) => void;
  /** The subscription came back after a disconnect: whatever was missed is unknown. */
  readonly onResubscribed: () => void;
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
 * treated as a miss, never as an error. The client handed in is copied, never closed.
 */
export function createL2(options: L2Options): L2 {
  const logger = getPackageLogger(options.logger, 'cache');
  const base = options.redis instanceof Redis ? options.redis.options : options.redis;
  const common: RedisOptions = { ...base, lazyConnect: false, retryStrategy: (times) => Math.min(times * 100, 2_000) };
  const client = new Redis({
    ...common,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.command_timeout_ms,
  });
  const subscriber = new Redis({ ...common, maxRetriesPerRequest: null });
  client.on('error', () => {});
  subscriber.on('error', () => {});
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
    if (everReady) options.onResubscribed();
    everReady = true;
  });
  subscriber.on('message', (_channel: string, raw: string) => {
    try {
      options.onInvalidation(JSON.parse(raw) as Invalidation);
    } catch (error) {
      logger.debug({ err: error }, 'unreadable invalidation message');
    }
  });
  subscriber
    .subscribe(channel)
    .catch((error: unknown) => logger.warn({ err: error }, 'cache invalidation subscribe failed'));

  return {
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
      client.disconnect();
      subscriber.disconnect();
    },
  };
}
