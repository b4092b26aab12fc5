// @diana/user-state/adapters/redis: the home of ephemeral slices and the read-through cache of
// persistent ones, on one command connection from the connector.
import { quitWithin, type RedisClient, type RedisConnector } from '@diana/redis';
import { createEventWaiter, createTurnBatcher, getPackageLogger, type Logger, newId, parseOrThrow } from '@diana/utils';
import { UserStateConfig, type UserStateConfigInput } from '../config.js';
import { USER_STATE_ERROR_CODES } from '../errors.js';
import { readLua } from '../lua.js';
import { followsInGeneration, notSent, type SliceConflict, type SliceStore, type StoredSlice } from '../types.js';

/** Written: `[generation, version]`; not: the record that stands, or 0 for none. */
type CasReply = [string, number] | string | 0;

interface Scripts {
  cas(key: string, ...args: Array<string | number>): Promise<CasReply>;
  casBatch(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<CasReply[]>;
  cachePut(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<number[]>;
}
type Client = RedisClient & Scripts;

/** The manager's Redis store: its own connection from the connector (`deps.store` of the manager). */
export interface RedisStateStore {
  /** The client once connected, waiting up to the command timeout for it. */
  ready(): Promise<Client>;
  /**
   * For best-effort work (the cache): the client if connected; while the very first connection
   * is being made, waits for it like `ready`; after that, `undefined` at once whenever the
   * connection is down, so an outage never slows a read.
   */
  readyNow(): Promise<Client | undefined>;
  readonly prefix: string;
  /** `redis_batch_max` of the config: most reads or compare-and-sets coalesced into one call. */
  readonly batch_max: number;
  /** True on a Redis Cluster: a coalesced call then holds one user's keys (one hash tag, one slot). */
  readonly cluster: boolean;
  /** Closes its connection (QUIT, a hard disconnect after `timeout_ms`); never the connector. */
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
}

/** What `createRedisStateStore` needs besides its config. */
export interface RedisStateStoreDeps {
  /** Hands out the store's command client (the app's one connector; never closed here). */
  readonly connector: RedisConnector;
  readonly logger?: Logger;
}

/**
 * A command connection that fails fast while Redis is down: no offline queue (a write is never
 * sent later behind its caller's back) and no resend of a command whose connection dropped —
 * the manager settles such a write by reading back its write id. Reads `key_prefix` and
 * `command_timeout_ms` of the manager's own config (pass the same `user_state` section to both).
 */
export function createRedisStateStore(config: UserStateConfigInput, deps: RedisStateStoreDeps): RedisStateStore {
  const options = parseOrThrow(UserStateConfig, config, {
    code: USER_STATE_ERROR_CODES.STATE_CONFIG,
    message: 'invalid user-state config',
  });
  const logger = getPackageLogger(deps.logger, 'user-state');
  const client = deps.connector.command({
    command_timeout_ms: options.command_timeout_ms,
    name: 'user-state',
  }) as Client;
  client.on('error', (error) => logger.debug({ err: error }, 'redis connection error'));
  client.defineCommand('cas', { numberOfKeys: 1, lua: readLua('cas') });
  client.defineCommand('casBatch', { lua: readLua('cas-batch') });
  client.defineCommand('cachePut', { lua: readLua('cache-put') });
  let connectedOnce = false;
  client.once('ready', () => {
    connectedOnce = true;
  });
  const waitReady = createEventWaiter(
    client,
    'ready',
    () => `redis not reachable within ${options.command_timeout_ms} ms (status ${client.status})`,
  );
  return {
    prefix: options.key_prefix,
    batch_max: options.redis_batch_max,
    // ioredis's Cluster says so; its one-server client does not
    cluster: (client as { isCluster?: boolean }).isCluster === true,
    async ready() {
      if (client.status !== 'ready') await waitReady(options.command_timeout_ms).catch(rethrowNotSent);
      return client;
    },
    async readyNow() {
      if (client.status === 'ready') return client;
      if (connectedOnce) return undefined;
      return waitReady(options.command_timeout_ms).then(
        () => client,
        () => undefined,
      );
    },
    close: ({ timeout_ms = 1_000 } = {}) => quitWithin(client, timeout_ms),
  };
}

// Nothing was sent: no connection within the command timeout, or ioredis refused to queue the
// command (no offline queue) because the connection dropped after the check.
const rethrowNotSent = (error: unknown): never => {
  throw error instanceof Error ? notSent(error) : error;
};
const NOT_QUEUED = "Stream isn't writeable";
const rethrowIfNotQueued = (error: unknown): never => {
  throw error instanceof Error && error.message.startsWith(NOT_QUEUED) ? notSent(error) : error;
};

// All keys of one user share the hash tag {u:<id>}, so a user's slices sit in one cluster slot.
const userKey = (prefix: string, user_id: string) => `${prefix}{u:${user_id}}`;

// A record is one string: '<generation>:<version>:<schema version>:<write id>|<JSON data>'.
// An ephemeral record's token joins its generation and version; a cached row's is the row's
// version, as in PostgreSQL.
const RECORD = /^([^:|]*):(\d+):(\d+):([^|]*)\|/;
const parseRecord = (record: string | null, cached = false): StoredSlice | undefined => {
  const header = record === null ? null : RECORD.exec(record);
  if (!header || record === null) return undefined;
  const [head, generation, version, schema_version, write_id] = header as unknown as [
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    data: JSON.parse(record.slice(head.length)),
    version: Number(version),
    schema_version: Number(schema_version),
    write_id,
    token: cached ? version : `${generation}:${version}`,
  };
};

/** Ephemeral slices in Redis hashes (`<prefix>{u:<id>}:e:<slice>`), written by the `cas` script. */
export function createRedisSliceStore(redis: RedisStateStore): SliceStore<SliceConflict> {
  const key = (user_id: string, slice: string) => `${userKey(redis.prefix, user_id)}:e:${slice}`;
  // the reads and writes of one turn (several updates' users), coalesced: one group on one
  // server; on a Cluster one per user, whose keys share the hash tag {u:<id>} (one slot)
  const groupOf = (item: { readonly user_id: string }) => (redis.cluster ? item.user_id : '');
  const fetch = createTurnBatcher<{ user_id: string; keys: string[] }, Array<string | null>>(
    async (items) => {
      const records = await (await redis.ready()).mget(...items.flatMap((item) => item.keys));
      let at = 0;
      return items.map((item) => {
        const start = at;
        at += item.keys.length;
        return records.slice(start, at);
      });
    },
    { max_batch: redis.batch_max, groupOf },
  );
  const fetchRecords = async (user_id: string, keys: string[]) =>
    redis.batch_max > 1 ? fetch({ user_id, keys }) : (await redis.ready()).mget(...keys);
  const casMany = createTurnBatcher<{ user_id: string; key: string; args: Array<string | number> }, CasReply>(
    async (items) =>
      (await redis.ready()).casBatch(
        items.length,
        ...items.map((item) => item.key),
        ...items.flatMap((item) => item.args),
      ),
    { max_batch: redis.batch_max, groupOf },
  );
  return {
    name: 'redis',
    answers_conflicts: true,
    follows: followsInGeneration,
    async read(user_id, slice) {
      return parseRecord((await fetchRecords(user_id, [key(user_id, slice)]))[0] ?? null);
    },
    async readMany(user_id, slices) {
      const found = new Map<string, StoredSlice>();
      if (slices.length === 0) return found;
      // one slot (the user's hash tag), so one MGET
      const records = await fetchRecords(
        user_id,
        slices.map((slice) => key(user_id, slice)),
      );
      slices.forEach((slice, i) => {
        const stored = parseRecord(records[i] ?? null);
        if (stored) found.set(slice, stored);
      });
      return found;
    },
    async write(user_id, slice, expected, value) {
      const args = [
        expected ?? '',
        expected === undefined ? newId() : '', // a generation only for a new record
        value.schema_version,
        value.write_id,
        JSON.stringify(value.data),
        value.ttl_ms ?? 0,
      ];
      const reply = await (redis.batch_max > 1
        ? casMany({ user_id, key: key(user_id, slice), args })
        : redis.ready().then((client) => client.cas(key(user_id, slice), ...args))
      ).catch(rethrowIfNotQueued);
      if (!Array.isArray(reply)) {
        const conflict: SliceConflict = { conflict: true, current: parseRecord(reply === 0 ? null : reply) };
        return conflict;
      }
      const [generation, version] = reply;
      return {
        data: value.data,
        version: Number(version),
        schema_version: value.schema_version,
        write_id: value.write_id,
        token: `${generation}:${version}`,
      };
    },
  };
}

/** What the read-through cache of persistent slices answers: a row, "no row", or a miss. */
export type CacheLookup = { readonly hit: true; readonly stored: StoredSlice | undefined } | { readonly hit: false };

/** The Redis read-through cache of persistent slices (`<prefix>{u:<id>}:p:<slice>`). Never throws. */
export interface SliceCache {
  get(user_id: string, slice: string): Promise<CacheLookup>;
  /** Stores the row (or its absence) unless the cache holds the same or a newer version. */
  put(user_id: string, slice: string, stored: StoredSlice | undefined): Promise<void>;
}

/** Keys whose refresh failed, remembered until they are deleted from Redis. */
const MAX_DIRTY_KEYS = 10_000;

/**
 * The cache on `redis`; `onError` is told of every failed command (the caller falls back).
 * A row whose refresh could not be stored (Redis down or slow) leaves an older copy in Redis;
 * its key is remembered as dirty — this process reads PostgreSQL for it — and deleted from
 * Redis as soon as a command succeeds again, so other processes stop seeing the old copy too.
 */
export function createRedisSliceCache(
  redis: RedisStateStore,
  ttl_ms: number,
  onError: (error: unknown) => void,
): SliceCache {
  const key = (user_id: string, slice: string) => `${userKey(redis.prefix, user_id)}:p:${slice}`;
  const dirty = new Set<string>();
  const markDirty = (k: string) => {
    dirty.delete(k);
    dirty.add(k);
    if (dirty.size > MAX_DIRTY_KEYS)
      for (const oldest of dirty) {
        dirty.delete(oldest);
        break;
      }
  };
  // a turn's lookups as one MGET and its puts as one script call (per user on a Cluster)
  const groupOf = (item: { readonly user_id: string }) => (redis.cluster ? item.user_id : '');
  const connected = async () => {
    const client = await redis.readyNow();
    if (!client) throw new Error('redis is not connected');
    return client;
  };
  const lookup = createTurnBatcher<{ user_id: string; key: string }, string | null>(
    async (items) => (await connected()).mget(...items.map((item) => item.key)),
    { max_batch: redis.batch_max, groupOf },
  );
  const store = createTurnBatcher<{ user_id: string; key: string; record: string; version: number }, number>(
    async (items) =>
      (await connected()).cachePut(
        items.length,
        ...items.map((item) => item.key),
        ttl_ms,
        ...items.flatMap((item) => [item.record, item.version]),
      ),
    { max_batch: redis.batch_max, groupOf },
  );
  let flushing = false;
  const flushDirty = async (client: Client) => {
    if (dirty.size === 0 || flushing) return;
    flushing = true;
    const keys = [...dirty];
    try {
      // one UNLINK per key, sent together: keys of many users sit in many slots on a cluster,
      // where a pipeline may not span them
      const replies = await Promise.allSettled(keys.map((k) => client.unlink(k)));
      keys.forEach((k, i) => {
        if (replies[i]?.status === 'fulfilled') dirty.delete(k);
      });
    } catch (error) {
      onError(error);
    } finally {
      flushing = false;
    }
  };
  return {
    async get(user_id, slice) {
      const k = key(user_id, slice);
      const client = await redis.readyNow();
      if (!client) return { hit: false };
      if (dirty.size > 0) await flushDirty(client);
      if (dirty.has(k)) return { hit: false };
      try {
        const record = await lookup({ user_id, key: k });
        if (record === null) return { hit: false };
        // version 0 records that the row does not exist
        return { hit: true, stored: record.startsWith('-:0:') ? undefined : parseRecord(record, true) };
      } catch (error) {
        onError(error);
        return { hit: false };
      }
    },
    async put(user_id, slice, stored) {
      const k = key(user_id, slice);
      const client = await redis.readyNow();
      if (!client) {
        markDirty(k);
        return;
      }
      try {
        const record = stored
          ? `-:${stored.version}:${stored.schema_version}:${stored.write_id}|${JSON.stringify(stored.data)}`
          : '-:0:0:|null';
        await store({ user_id, key: k, record, version: stored?.version ?? 0 });
        dirty.delete(k);
        if (dirty.size > 0) await flushDirty(client);
      } catch (error) {
        markDirty(k);
        onError(error);
      }
    },
  };
}
