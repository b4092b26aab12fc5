// @diana/event-bus/adapters/redis-streams: the production transport.
import type { RedisConnector } from '@diana/redis';
import { createEventWaiter, DianaError, getPackageLogger, type Logger } from '@diana/utils';
import type { Redis } from 'ioredis';
import { EVENT_BUS_ERROR_CODES } from '../errors.js';
import { readLua } from '../lua.js';
import type { DeadLetter, Delivery, GroupStats, StreamTransport } from '../types.js';
import { createAppendBatcher } from './redis-append-batch.js';
import { createRedisReader, type KeySpace, readFields } from './redis-reader.js';

/** Options of the Redis Streams transport. */
export interface RedisStreamsOptions {
  /** Hands out the command connection and one blocking connection per reader (never closed here). */
  readonly connector: RedisConnector;
  /** Key prefix. @default 'diana:ev:' */
  readonly prefix?: string;
  /** XADD MAXLEN ~ safety cap. @default 1_000_000 */
  readonly max_len?: number;
  /** Extra time a blocking read may take before the watchdog rebuilds its connection. @default 5_000 */
  readonly watchdog_ms?: number;
  /** Time limit of every non-blocking command. @default 5_000 */
  readonly command_timeout_ms?: number;
  /**
   * Most appends to one stream sent as one script call: the appends made in one turn of the
   * event loop go together, up to this many. 1 sends each append on its own. @default 32
   */
  readonly append_batch_max?: number;
  readonly logger?: Logger;
}

interface Scripts {
  appendBatch(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<string[]>;
  deadLetter(stream: string, dlq: string, ...args: Array<string | number>): Promise<number>;
  renew(stream: string, group: string, consumer: string, ...ids: string[]): Promise<number>;
  replay(stream: string, dlq: string, maxLen: number, ...ids: string[]): Promise<number>;
}

/**
 * The transport on Redis Streams (7.0 or newer): one stream per event type, a consumer group
 * per subscribing module. Keys of one type share a hash tag (`diana:ev:{type}`, its
 * `:dlq` and `:seen:*`) so the layout fits Redis Cluster. Every connection is its own: a
 * command connection that fails fast while Redis is down (no offline queue, so a failed
 * publish is never sent later behind its caller's back) and one blocking connection per reader.
 */
export function createRedisStreamsTransport(options: RedisStreamsOptions): StreamTransport {
  const logger = getPackageLogger(options.logger, 'event-bus');
  const prefix = options.prefix ?? 'diana:ev:';
  const maxLen = options.max_len ?? 1_000_000;
  const batchMax = options.append_batch_max ?? 32;
  if (!Number.isInteger(batchMax) || batchMax < 1 || batchMax > 10_000) {
    throw new DianaError(EVENT_BUS_ERROR_CODES.BUS_CONFIG, 'append_batch_max must be an integer from 1 to 10 000');
  }
  const commandTimeout = options.command_timeout_ms ?? 5_000;
  // The connector's fail-fast client: no offline queue, and a command whose reply was lost with
  // the connection is not sent again on reconnect (its caller was told the outcome is unknown,
  // and a resend would append it a second time).
  const client = options.connector.command({
    command_timeout_ms: commandTimeout,
    max_retries_per_request: 1,
    name: 'event-bus',
  });
  // No offline queue: a command waits for the connection only up to the command timeout,
  // then fails, rather than sitting in a queue and running after its caller gave up.
  const waitReady = createEventWaiter(
    client,
    'ready',
    () => `redis not reachable within ${commandTimeout} ms (status ${client.status})`,
  );
  const ready = async (signal?: AbortSignal): Promise<Redis & Scripts> => {
    if (client.status !== 'ready') await waitReady(commandTimeout, signal);
    return client as Redis & Scripts;
  };
  client.defineCommand('appendBatch', { lua: readLua('append-batch') });
  client.defineCommand('deadLetter', { numberOfKeys: 2, lua: readLua('dead-letter') });
  client.defineCommand('renew', { numberOfKeys: 1, lua: readLua('renew') });
  client.defineCommand('replay', { numberOfKeys: 2, lua: readLua('replay') });

  const keys: KeySpace = {
    stream: (type) => `${prefix}{${type}}`,
    typeOf: (key) => key.slice(prefix.length + 1, -1),
  };
  const dlqKey = (type: string) => `${keys.stream(type)}:dlq`;
  // Where each group was last seen, so a lost group is recreated there (no replay of history).
  const lastSeen = new Map<string, string>();
  const seen = (group: string, deliveries: Delivery[]) => {
    for (const d of deliveries) {
      const k = `${d.type}\u0000${group}`;
      if (compareIds(d.entry_id, lastSeen.get(k) ?? '0-0') > 0) lastSeen.set(k, d.entry_id);
    }
    return deliveries;
  };
  const readers: Array<{ close(): Promise<void> }> = [];
  const notSent = (type: string) =>
    new DianaError(EVENT_BUS_ERROR_CODES.PUBLISH_FAILED, `${type}: not sent (the caller stopped waiting)`);

  const appendBatched = createAppendBatcher(
    (batchKeys, args) => (client as Redis & Scripts).appendBatch(batchKeys.length, ...batchKeys, ...args),
    { max_len: maxLen, max_batch: batchMax, default_ttl_ms: 86_400_000 },
  );

  const transport: StreamTransport = {
    name: 'redis-streams',
    append(type, raw, appendOptions) {
      const stream = keys.stream(type);
      const signal = appendOptions?.signal;
      const append = {
        raw,
        ...(appendOptions?.dedupe_id
          ? { marker: `${stream}:seen:${appendOptions.dedupe_id}`, ttl_ms: appendOptions.dedupe_ttl_ms }
          : {}),
        ...(signal ? { signal } : {}),
      };
      // Hot path: no extra await when the connection is up. Otherwise the append waits for the
      // connection only while its caller does: aborted first, it is never sent.
      if (client.status === 'ready') return appendBatched(stream, append);
      return ready(signal).then(
        () => appendBatched(stream, append),
        (error: unknown) => {
          throw signal?.aborted ? notSent(type) : error;
        },
      );
    },
    async ensureGroup(type, group) {
      const start = lastSeen.get(`${type}\u0000${group}`) ?? '0';
      try {
        await (await ready()).xgroup('CREATE', keys.stream(type), group, start, 'MKSTREAM');
      } catch (error) {
        if (!String((error as Error).message).startsWith('BUSYGROUP')) throw error;
      }
    },
    createReader() {
      const reader = createRedisReader({
        connect: () => options.connector.blocking({ name: 'event-bus-reader' }),
        keys,
        watchdog_ms: options.watchdog_ms ?? 5_000,
        logger,
      });
      readers.push(reader);
      return {
        ...reader,
        readGroup: async (args) => seen(args.group, await reader.readGroup(args)),
      };
    },
    async currentEnd(type) {
      const [last] = (await (await ready()).xrevrange(keys.stream(type), '+', '-', 'COUNT', 1)) as Array<
        [string, string[]]
      >;
      return last?.[0] ?? '0-0';
    },
    async ack(group, deliveries) {
      const byType = groupByType(deliveries);
      const pipeline = (await ready()).pipeline();
      for (const [type, ids] of byType) pipeline.xack(keys.stream(type), group, ...ids);
      const results = await pipeline.exec();
      const failed = results?.find(([error]) => error);
      if (failed?.[0]) throw failed[0];
    },
    async deadLetter(group, delivery, info) {
      await (await ready()).deadLetter(
        keys.stream(delivery.type),
        dlqKey(delivery.type),
        group,
        delivery.entry_id,
        info.error,
        info.attempts,
        new Date().toISOString(),
        maxLen,
      );
    },
    async claim({ group, consumer, types, min_idle_ms, count }) {
      const out: Delivery[] = [];
      for (const type of types) {
        if (out.length >= count) break;
        const stream = keys.stream(type);
        const [, entries] = (await (
          await ready()
        ).xautoclaim(stream, group, consumer, min_idle_ms, '0-0', 'COUNT', count - out.length)) as [
          string,
          Array<[string, string[] | null]>,
        ];
        const live = entries.filter(([, fields]) => fields !== null);
        if (live.length === 0) continue;
        // Delivery counts (XAUTOCLAIM has just incremented them) come from XPENDING.
        const first = live[0]?.[0] ?? '-';
        const last = live[live.length - 1]?.[0] ?? '+';
        const pending = (await (
          await ready()
        ).xpending(stream, group, first, last, live.length * 2, consumer)) as Array<[string, string, number, number]>;
        const deliveries = new Map(pending.map(([id, , , n]) => [id, n]));
        for (const [entry_id, fields] of live) {
          out.push({ type, entry_id, ...readFields(fields), deliveries: deliveries.get(entry_id) ?? 2 });
        }
      }
      return seen(group, out);
    },
    async renew(group, consumer, deliveries) {
      for (const [type, ids] of groupByType(deliveries))
        await (await ready()).renew(keys.stream(type), group, consumer, ...ids);
    },
    async markOnce(key, ttl_ms) {
      return (await (await ready()).set(`${prefix}${key}`, '1', 'PX', ttl_ms, 'NX')) === 'OK';
    },
    async listDeadLetters(type, limit) {
      const entries = (await (await ready()).xrange(dlqKey(type), '-', '+', 'COUNT', limit)) as Array<
        [string, string[]]
      >;
      return entries.map(([dlq_id, fields]) => toDeadLetter(type, dlq_id, fields));
    },
    async countDeadLetters(type) {
      return (await ready()).xlen(dlqKey(type));
    },
    async replayDeadLetters(type, ids) {
      const chosen = ids ?? (await transport.listDeadLetters(type, 10_000)).map((d) => d.dlq_id);
      if (chosen.length === 0) return 0;
      return (await ready()).replay(keys.stream(type), dlqKey(type), maxLen, ...chosen);
    },
    async purgeDeadLetters(type, ids) {
      if (ids) return ids.length === 0 ? 0 : client.xdel(dlqKey(type), ...ids);
      const length = await (await ready()).xlen(dlqKey(type));
      await (await ready()).del(dlqKey(type));
      return length;
    },
    async trim(type) {
      const stream = keys.stream(type);
      const groups = await groupInfo(stream);
      if (groups.length === 0) return 0;
      // Everything below the lowest position each group still needs is acknowledged by all.
      let floor: string | undefined;
      for (const g of groups) {
        let needed = nextId(g.last_delivered);
        if (g.pending > 0) {
          const [, minPending] = (await (await ready()).xpending(stream, g.name)) as [number, string | null];
          if (minPending && compareIds(minPending, needed) < 0) needed = minPending;
        }
        if (floor === undefined || compareIds(needed, floor) < 0) floor = needed;
      }
      return floor ? ((await (await ready()).xtrim(stream, 'MINID', floor)) as number) : 0;
    },
    async groupStats(type) {
      const stream = keys.stream(type);
      const out: GroupStats[] = [];
      for (const g of await groupInfo(stream)) {
        let oldest = 0;
        if (g.pending > 0) {
          const [, minPending] = (await (await ready()).xpending(stream, g.name)) as [number, string | null];
          if (minPending) oldest = Math.max(0, Date.now() - Number(minPending.split('-')[0]));
        }
        out.push({ type, group: g.name, lag: g.lag ?? 0, pending: g.pending, oldest_pending_ms: oldest });
      }
      return out;
    },
    async streamLength(type) {
      return (await ready()).xlen(keys.stream(type));
    },
    async close() {
      await Promise.all(readers.map((reader) => reader.close()));
      client.disconnect();
    },
    [Symbol.asyncDispose]: () => transport.close(),
  };

  const groupInfo = async (stream: string) => {
    let raw: unknown[];
    try {
      raw = (await (await ready()).xinfo('GROUPS', stream)) as unknown[];
    } catch (error) {
      if (String((error as Error).message).includes('no such key')) return [];
      throw error;
    }
    return raw.map((item) => {
      const fields = item as Array<string | number | null>;
      const get = (name: string) => fields[fields.indexOf(name) + 1];
      return {
        name: String(get('name')),
        pending: Number(get('pending')),
        last_delivered: String(get('last-delivered-id')),
        lag: get('lag') === null ? undefined : Number(get('lag')),
      };
    });
  };
  return transport;
}

function groupByType(deliveries: readonly Delivery[]): Map<string, string[]> {
  const byType = new Map<string, string[]>();
  for (const d of deliveries) byType.set(d.type, [...(byType.get(d.type) ?? []), d.entry_id]);
  return byType;
}

function toDeadLetter(type: string, dlq_id: string, fields: readonly string[]): DeadLetter {
  const get = (name: string) => {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
    return undefined;
  };
  return {
    dlq_id,
    type,
    group: get('group') ?? '',
    error: get('error') ?? '',
    attempts: Number(get('attempts') ?? 0),
    failed_at: get('failed_at') ?? '',
    original_id: get('original_id') ?? '',
    raw: get('e'),
  };
}

/** Compares stream ids (`ms-seq`) numerically. */
export function compareIds(a: string, b: string): number {
  const [am = 0, as = 0] = a.split('-').map(Number);
  const [bm = 0, bs = 0] = b.split('-').map(Number);
  return am === bm ? as - bs : am - bm;
}

function nextId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  return `${ms}-${Number(seq) + 1}`;
}
