// @diana/cache/adapters/redis: the shared tier on Redis.
import { isCluster, mastersOf, type RedisConnector } from '@diana/redis';
import {
  backoffDelay,
  createEventWaiter,
  createTurnBatcher,
  getPackageLogger,
  type Logger,
  parseOrThrow,
  sleep,
} from '@diana/utils';
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

/** The connection ioredis holds a cluster's subscription on. */
interface Watched {
  readonly status: string;
  once(event: 'end', listener: () => void): unknown;
}

const RELEASE_LEASE = `
-- release-lease: deletes the lease only if this process still holds it.
-- KEYS[1] lease key   ARGV[1] token   Returns 1 when deleted.
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

const FILL = `
-- fill: stores a factory's entry only while this process still holds the key's refresh lease (a
-- set, delete or deleteByTag since it was taken dropped it: theirs stands), and releases it.
-- KEYS[1] entry key   KEYS[2] lease key (same hash tag: {<key>}, one slot)
-- ARGV[1] token   ARGV[2] entry (JSON)   ARGV[3] ttl ms   Returns 1 when stored, 0 when not.
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2])
return 1`;

/**
 * Redis as the shared tier: entries (`<prefix>v:{<key>}`), tag sets (`<prefix>t:<tag>`), refresh
 * leases (`<prefix>l:{<key>}`) and an invalidation channel (`<prefix>invalidate`). Every command
 * names one key, or an entry and its lease (one slot: their hash tag; an entry and its tag sets
 * sit in different slots of a Redis Cluster), so the
 * same code runs on one server and on a cluster (but for the entry reads of one turn, which go
 * as one MGET on one server); `clear` scans every master. Commands fail fast (no offline queue,
 * a time limit) and go through a circuit breaker; a failing Redis is treated as a miss, never as
 * an error. It reads `key_prefix`, `command_timeout_ms`, `redis_batch_max` and the breaker keys
 * of the cache's own config (pass the same section to both); its two clients come from the
 * connector and are closed with the store (the cache closes its store).
 */
export function createRedisCacheStore(config: CacheConfigInput, deps: RedisCacheStoreDeps): CacheStore {
  const options = parseOrThrow(CacheConfig, config, {
    code: CACHE_ERROR_CODES.CACHE_CONFIG,
    message: 'invalid cache config',
  });
  const logger = getPackageLogger(deps.logger, 'cache');
  const client = deps.connector.command({
    command_timeout_ms: options.command_timeout_ms,
    name: 'cache',
  }) as ReturnType<RedisConnector['command']> & {
    releaseLease(key: string, token: string): Promise<number>;
    fillEntry(entry: string, lease: string, token: string, json: string, ttl_ms: number): Promise<number>;
  };
  // EVALSHA of the script's digest (ioredis sends its text once, on NOSCRIPT): an EVAL would
  // send the whole text with every release
  client.defineCommand('releaseLease', { numberOfKeys: 1, lua: RELEASE_LEASE });
  client.defineCommand('fillEntry', { numberOfKeys: 2, lua: FILL });
  const subscriber = deps.connector.blocking({ name: 'cache-invalidation' });
  const listeners = new Set<CacheStoreListener>();
  const p = options.key_prefix;
  // slot: a pub/sub channel, not a key (PUBLISH reaches every node of a cluster)
  const channel = `${p}invalidate`;
  // An entry and its lease share the hash tag {<key>} (one slot): a fill is stored by a script
  // only while its lease holds, and a set, delete or deleteByTag drops the lease with the entry.
  // (The text from `{` on is the same in both, so they hash alike whatever the key holds.)
  const entryKey = (key: string) => `${p}v:{${key}}`;
  const leaseKey = (key: string) => `${p}l:{${key}}`;
  // slot: each tag set alone (SADD and PEXPIRE in a MULTI on that one key, SMEMBERS, UNLINK)
  const tagKey = (tag: string) => `${p}t:${tag}`;
  // The entry reads of one event-loop turn go as one MGET (never delayed by a timer: the batch
  // leaves once the turn's code has run), up to redis_batch_max keys; each caller still goes
  // through the breaker and gets its own entry, or the batch's failure as its own. On a Cluster
  // each read is its own GET: an MGET may only name keys of one slot, and entries' keys spread.
  const readEntry =
    isCluster(client) || options.redis_batch_max <= 1
      ? (key: string) => client.get(key)
      : createTurnBatcher<string, string | null>(
          (keys) => (keys.length === 1 ? client.get(keys[0] as string).then((raw) => [raw]) : client.mget(...keys)),
          { max_batch: options.redis_batch_max, groupOf: () => '' },
        );
  const unlinkEach = (keys: readonly string[]) =>
    Promise.all(keys.map((key) => client.unlink(entryKey(key), leaseKey(key))));
  // The key joins each tag set, which lives as long as its longest entry (GT: only ever
  // lengthened; Redis 7.0); each set its own slot on a cluster, so no MULTI spans them.
  const addToTags = (key: string, tags: readonly string[], ttl: number) =>
    Promise.all(
      tags.map((tag) =>
        client.multi().sadd(tagKey(tag), key).pexpire(tagKey(tag), ttl, 'GT').pexpire(tagKey(tag), ttl, 'NX').exec(),
      ),
    );
  // An entry's tags, after the entry: a tag that cannot be written takes the entry back out.
  const tagEntry = async (key: string, tags: readonly string[], ttl: number) => {
    try {
      await addToTags(key, tags, ttl);
    } catch (error) {
      await client.unlink(entryKey(key)).catch(() => {});
      throw error;
    }
  };
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

  // Listening once SUBSCRIBE answered (ioredis says `ready` before it resubscribes after a
  // reconnect, so the store subscribes again itself and waits for that answer); deaf from a lost
  // connection until then. Each time it listens again, listeners drop their memory copies.
  let listening = false;
  const stopped = new AbortController(); // aborted by close: no more listening again
  const listen = () => {
    // (on a cluster, the connection the SUBSCRIBE goes to: the one to watch, even if it ended
    // while the answer was on its way)
    const connection = clusterSubscription?.getInstance?.();
    return subscriber.subscribe(channel).then(
      () => {
        listening = true;
        watchClusterSubscription(connection ?? clusterSubscription?.getInstance?.());
        for (const listener of listeners) listener.onResubscribed();
      },
      (error: unknown) => {
        // closed while it was on its way (a start that failed, a quick close): nothing is missed
        if (stopped.signal.aborted) logger.debug({ err: error }, 'cache invalidation subscribe failed');
        else logger.warn({ err: error }, 'cache invalidation subscribe failed');
        throw error;
      },
    );
  };
  // On a cluster, ioredis holds the subscription on a connection of its own to one node and, when
  // that connection ends (the node died, left, or closed it), moves it to another node with no
  // event on the cluster client: notices published meanwhile are lost to this process. The store
  // watches that connection itself (ioredis 6's `subscriber.getInstance()`, not public API: the
  // tests run on the workspace's exact pin and fail if a release moves it) and is deaf from its
  // end until its own SUBSCRIBE on the next one answers, retried until it does.
  const clusterSubscription = (subscriber as unknown as { subscriber?: { getInstance?: () => Watched | null } })
    .subscriber;
  if (isCluster(subscriber) && typeof clusterSubscription?.getInstance !== 'function')
    logger.warn(
      'this ioredis release hides the cluster subscription connection: when ioredis moves the invalidation subscription to another node, memory copies whose notice was lost live until their TTL',
    );
  const watched = new WeakSet<Watched>();
  const watchClusterSubscription = (connection: Watched | null | undefined) => {
    if (!connection || watched.has(connection)) return;
    watched.add(connection);
    const lost = () => {
      if (stopped.signal.aborted) return;
      listening = false;
      logger.warn('cache invalidation subscription moved to another node: listening again');
      void relisten();
    };
    if (connection.status === 'end') lost();
    else connection.once('end', lost);
  };
  const relisten = async () => {
    for (let attempt = 1; !stopped.signal.aborted && !listening; attempt++) {
      try {
        await listen();
      } catch {
        await sleep(backoffDelay(attempt, { base_ms: 50, max_ms: 2_000 }), stopped.signal).catch(() => {});
      }
    }
  };
  let everReady = false;
  subscriber.on('close', () => {
    listening = false;
  });
  subscriber.on('ready', () => {
    if (everReady) void listen().catch(() => {});
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
  void listen().catch(() => {});

  return {
    name: 'redis',
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    get: async (key) => {
      const raw = await guard(() => readEntry(entryKey(key)), null);
      if (!raw) return undefined;
      // parsed outside the breaker: a corrupt entry is a miss, not a Redis failure (six of them
      // would open the breaker for every key)
      try {
        const entry = JSON.parse(raw) as StoredEntry;
        if (isStoredEntry(entry)) return entry;
      } catch {}
      logger.warn({ key }, 'unreadable cache entry in redis: treated as a miss');
      return undefined;
    },
    set: (key, entry, ttl_ms, notice) =>
      guard(async () => {
        const ttl = Math.max(1, ttl_ms);
        // The entry, the end of its lease (a fill running meanwhile does not land) and its
        // invalidation notice as one MULTI (one slot: PUBLISH names no key), then its tag sets. A
        // deleteByTag between the two misses this entry but finds it in the set afterwards, as
        // if the set had come after it.
        const write = client.multi().set(entryKey(key), JSON.stringify(entry), 'PX', ttl).del(leaseKey(key));
        await (notice ? write.publish(channel, JSON.stringify(notice)) : write).exec();
        await tagEntry(key, entry.t, ttl);
      }, undefined),
    delete: (key, notice) =>
      guard(async () => {
        const drop = client.multi().unlink(entryKey(key), leaseKey(key));
        await (notice ? drop.publish(channel, JSON.stringify(notice)) : drop).exec();
      }, undefined),
    deleteByTag: (tag) =>
      guard(async () => {
        const keys = await client.smembers(tagKey(tag));
        await unlinkEach(keys);
        await client.unlink(tagKey(tag));
      }, undefined),
    clear: (prefix) =>
      guard(async () => {
        // SCAN + UNLINK within our own prefix, on every master of a cluster; never KEYS. The
        // leases first, as a set or a delete drops a key's: a fill running meanwhile lands no
        // more, and one that landed before is gone with the entries (a key there throughout is
        // one SCAN returns). Before, a factory started before the clear put its value back.
        const escaped = prefix.replace(/[*?[\]\\]/g, '\\$&');
        for (const node of mastersOf(client))
          for (const pattern of [`${p}l:{${escaped}*`, `${p}v:{${escaped}*`]) {
            let cursor = '0';
            do {
              const [next, keys] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
              cursor = next;
              await Promise.all(keys.map((key) => node.unlink(key)));
            } while (cursor !== '0');
          }
      }, undefined),
    acquireLease: (key, token, ttl_ms, tags = []) =>
      guard(async () => {
        const granted = (await client.set(leaseKey(key), token, 'PX', ttl_ms, 'NX')) === 'OK';
        // before the factory runs: a deleteByTag from now on finds the key, and drops its lease
        if (granted) await addToTags(key, tags, ttl_ms);
        return granted;
      }, true),
    fill: (key, entry, ttl_ms, token) =>
      guard(async () => {
        const ttl = Math.max(1, ttl_ms);
        if ((await client.fillEntry(entryKey(key), leaseKey(key), token, JSON.stringify(entry), ttl)) !== 1)
          return false;
        await tagEntry(key, entry.t, ttl);
        return true;
      }, true),
    releaseLease: (key, token) =>
      guard(async () => {
        await client.releaseLease(leaseKey(key), token);
      }, undefined),
    publish: (message) =>
      guard(async () => {
        await client.publish(channel, JSON.stringify(message));
      }, undefined),
    get listening() {
      return listening;
    },
    get breakerOpen() {
      return breaker.state === CircuitState.Open;
    },
    get failures() {
      return failures;
    },
    async close() {
      stopped.abort();
      listeners.clear();
      client.disconnect();
      subscriber.disconnect();
    },
  };
}

// The shape of an entry this version writes (another version's, or a hand-written key, is a miss).
function isStoredEntry(entry: unknown): entry is StoredEntry {
  const { v, e, s, t } = (entry ?? {}) as Partial<StoredEntry>;
  return typeof v === 'string' && typeof e === 'number' && typeof s === 'number' && Array.isArray(t);
}
