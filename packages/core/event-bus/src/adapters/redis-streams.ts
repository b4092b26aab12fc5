// @diana/event-bus/adapters/redis-streams: the production transport. Over 300 lines because it
// implements the whole StreamTransport port (append, groups, broadcast, claims, dead letters,
// replay, trimming, stats) over one set of keys, each over a type's partitions; the reader,
// append batching and the partition arithmetic (../partitions.ts) have their files.
import { isCluster, type RedisClient, type RedisConnector } from '@diana/redis';
import { createEventWaiter, DianaError, getPackageLogger, type Logger } from '@diana/utils';
import { EVENT_BUS_ERROR_CODES } from '../errors.js';
import { readLua } from '../lua.js';
import {
  type PartitionsConfig,
  parsePartitionName,
  parsePartitions,
  partitionName,
  partitionOf,
  splitPosition,
  typeOfStreamKey,
} from '../partitions.js';
import type { DeadLetter, Delivery, GroupStats, StreamTransport } from '../types.js';
import { createAppendBatcher, idBefore, type QueuedAppend } from './redis-append-batch.js';
import { createRedisReader, type KeySpace, readFields } from './redis-reader.js';

/** Settings of the Redis Streams transport (`createRedisStreamsTransport`'s first argument). */
export interface RedisStreamsConfig {
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
  /**
   * Partitions per event type (`{ 'gamification.besitos_awarded': 4 }`, or the string
   * `type=4,…`): entries of the type spread over that many streams by the publish key, each with
   * its own hash tag. A type not named has 1 (its one stream, named as always). Each count is
   * 1–256, anything else is `E_BUS_CONFIG`. @default {}
   */
  readonly partitions?: PartitionsConfig | string;
  /**
   * Replicas that must have every append before it resolves (`WAIT`, sent with the append on
   * the stream's master). 0 does not wait. When fewer confirm within `wait_timeout_ms`, the
   * append rejects with `E_BUS_PUBLISH_NOT_REPLICATED` (it is on the master: it may be
   * delivered, or lost in a failover). @default 0
   */
  readonly wait_replicas?: number;
  /** How long an append waits for `wait_replicas` (below `command_timeout_ms`). @default 1_000 */
  readonly wait_timeout_ms?: number;
}

/** What the Redis Streams transport needs (`createRedisStreamsTransport`'s second argument). */
export interface RedisStreamsDeps {
  /** Hands out the command connection and one blocking connection per reader (never closed here). */
  readonly connector: RedisConnector;
  readonly logger?: Logger;
}

interface Scripts {
  appendBatch(numberOfKeys: number, ...keysAndArgs: Array<string | number>): Promise<string[]>;
  deadLetter(stream: string, dlq: string, ...args: Array<string | number>): Promise<number>;
  renew(stream: string, group: string, consumer: string, ...ids: string[]): Promise<number>;
  release(
    stream: string,
    group: string,
    consumer: string,
    idle_ms: number,
    most: number,
    ...kept: string[]
  ): Promise<number>;
  replay(stream: string, dlq: string, maxLen: number, ...ids: string[]): Promise<number>;
  purgeAll(dlq: string): Promise<number>;
  lag(stream: string, after: string, most: number): Promise<number>;
  checkKeep(numberOfKeys: 2 | 3, ...keysAndFloor: string[]): Promise<number | string>;
}

/** The idle time of a handed-back entry: past any consumer's `claim_idle_ms` (ten years). */
const RELEASED_IDLE_MS = 315_360_000_000;
/** Entries one stop looks at per stream: more than a consumer can hold (concurrency plus a read). */
const RELEASE_MOST = 100_000;
/**
 * XAUTOCLAIM calls per stream in one claim (each looks at up to 10 × COUNT pending entries); the
 * next claim goes on from where it stopped.
 */
const CLAIM_CALLS_MOST = 10;
/** Dead letters one replay script moves at most (a replay of a whole type goes page by page). */
const REPLAY_PAGE = 1_000;
/** Entries counted at most for a lag Redis cannot tell (the figure is then a lower bound). */
const LAG_COUNT_MOST = 100_000;

/**
 * The transport on Redis Streams (7.0 or newer): one stream per event type, a consumer group
 * per subscribing module. Keys of one type share a hash tag (`diana:ev:{type}`, its
 * `:dlq`, `:keep` and `:seen:*`) so the layout fits Redis Cluster. Every connection is its own: a
 * command connection that fails fast while Redis is down (no offline queue, so a failed
 * publish is never sent later behind its caller's back) and one blocking connection per reader.
 */
export function createRedisStreamsTransport(config: RedisStreamsConfig, deps: RedisStreamsDeps): StreamTransport {
  const options = { ...config, ...deps };
  const logger = getPackageLogger(options.logger, 'event-bus');
  const prefix = options.prefix ?? 'diana:ev:';
  // a brace in the prefix would become every key's hash tag: one slot for everything
  if (/[{}]/.test(prefix)) {
    throw new DianaError(EVENT_BUS_ERROR_CODES.BUS_CONFIG, 'prefix must not contain { or } (Redis Cluster hash tags)');
  }
  const maxLen = options.max_len ?? 1_000_000;
  const batchMax = options.append_batch_max ?? 32;
  if (!Number.isInteger(batchMax) || batchMax < 1 || batchMax > 10_000) {
    throw new DianaError(EVENT_BUS_ERROR_CODES.BUS_CONFIG, 'append_batch_max must be an integer from 1 to 10 000');
  }
  const commandTimeout = options.command_timeout_ms ?? 5_000;
  const partitions = parsePartitions(options.partitions);
  const waitReplicas = options.wait_replicas ?? 0;
  const waitTimeout = options.wait_timeout_ms ?? 1_000;
  if (!Number.isInteger(waitReplicas) || waitReplicas < 0 || waitReplicas > 16) {
    throw new DianaError(EVENT_BUS_ERROR_CODES.BUS_CONFIG, 'wait_replicas must be an integer from 0 to 16');
  }
  // checked only when used: a short command_timeout_ms without WAIT is fine
  if (waitReplicas > 0 && (!Number.isInteger(waitTimeout) || waitTimeout < 1 || waitTimeout >= commandTimeout)) {
    throw new DianaError(
      EVENT_BUS_ERROR_CODES.BUS_CONFIG,
      `wait_timeout_ms must be a whole number from 1 to below command_timeout_ms (${commandTimeout})`,
    );
  }
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
  const ready = async (signal?: AbortSignal): Promise<RedisClient & Scripts> => {
    if (client.status !== 'ready') await waitReady(commandTimeout, signal);
    return client as RedisClient & Scripts;
  };
  client.defineCommand('appendBatch', { lua: readLua('keep') + readLua('append-batch') });
  client.defineCommand('deadLetter', { numberOfKeys: 2, lua: readLua('dead-letter') });
  client.defineCommand('renew', { numberOfKeys: 1, lua: readLua('renew') });
  client.defineCommand('release', { numberOfKeys: 1, lua: readLua('release') });
  client.defineCommand('replay', { numberOfKeys: 2, lua: readLua('replay') });
  client.defineCommand('lag', { numberOfKeys: 1, lua: readLua('lag') });
  client.defineCommand('purgeAll', { numberOfKeys: 1, lua: readLua('purge-all') });
  client.defineCommand('checkKeep', { lua: readLua('keep') + readLua('check-keep') });

  // Below, a `name` is one stream's: the type itself, or `type#p` for partition p > 0 of a
  // partitioned type; its hash tag is the name, so partitions spread over a cluster's slots.
  const keys: KeySpace = {
    stream: (name) => `${prefix}{${name}}`,
    typeOf: (key) => key.slice(prefix.length + 1, -1),
  };
  const dlqKey = (name: string) => `${keys.stream(name)}:dlq`;
  const countOf = (type: string) => partitions[type] ?? 1;
  const namesOf = (type: string): string[] => {
    const count = countOf(type);
    return count === 1 ? [type] : Array.from({ length: count }, (_, p) => partitionName(type, p));
  };
  const nameOf = (d: { type: string; partition?: number }) => partitionName(d.type, d.partition ?? 0);
  /** A delivery read from stream `name` as the bus sees it: its type, and its partition when not 0. */
  const fromName = (d: Delivery): Delivery => {
    const { type, partition } = parsePartitionName(d.type);
    return partition === 0 ? (type === d.type ? d : { ...d, type }) : { ...d, type, partition };
  };
  /** Per-type cursors (one string per type, see splitPosition) as per-stream cursors. */
  const expandCursors = (cursors: Map<string, string>) => {
    const out = new Map<string, string>();
    for (const [type, position] of cursors) {
      const parts = splitPosition(position, countOf(type));
      for (const [p, name] of namesOf(type).entries()) out.set(name, parts[p] ?? '0-0');
    }
    return out;
  };
  const foldCursors = (streams: Map<string, string>, cursors: Map<string, string>) => {
    for (const type of cursors.keys()) {
      cursors.set(
        type,
        namesOf(type)
          .map((name) => streams.get(name) ?? '0-0')
          .join(','),
      );
    }
  };
  /** Dead-letter ids by partition (`p/<id>` on p > 0). */
  const byPartition = (type: string, ids: readonly string[]) => {
    const out = new Map<string, string[]>();
    for (const id of ids) {
      const slash = id.indexOf('/');
      const name = slash < 0 ? type : partitionName(type, Number(id.slice(0, slash)));
      out.set(name, [...(out.get(name) ?? []), slash < 0 ? id : id.slice(slash + 1)]);
    }
    return out;
  };
  // Where each group was last seen, so a lost group is recreated there (no replay of history).
  const lastSeen = new Map<string, string>();
  const seen = (group: string, deliveries: Delivery[]) => {
    // a read's entries come stream by stream: the key and its last id are looked up once per run
    let type: string | undefined;
    let k = '';
    let last = '0-0';
    for (const d of deliveries) {
      if (d.type !== type) {
        type = d.type;
        k = `${type}\u0000${group}`;
        last = lastSeen.get(k) ?? '0-0';
      }
      if (compareIds(d.entry_id, last) > 0) {
        lastSeen.set(k, d.entry_id);
        last = d.entry_id;
      }
    }
    return deliveries;
  };
  // Where each group's claims go on in each stream: XAUTOCLAIM looks at 10 × COUNT pending entries
  // at most, so claims that always began at 0-0 never reached a dead consumer's entries lying
  // behind many a live one's (renewed, never idle) while those ran.
  const claimCursors = new Map<string, string>();
  /** Claimed entries with their delivery counts (XAUTOCLAIM has just incremented them), from XPENDING. */
  const withDeliveries = async (
    name: string,
    group: string,
    consumer: string,
    entries: Array<[string, string[] | null]>,
  ): Promise<Delivery[]> => {
    const live = entries.filter((entry): entry is [string, string[]] => entry[1] !== null);
    if (live.length === 0) return [];
    const first = live[0]?.[0] ?? '-';
    const last = live[live.length - 1]?.[0] ?? '+';
    const pending = (await (
      await ready()
    ).xpending(keys.stream(name), group, first, last, live.length * 2, consumer)) as Array<
      [string, string, number, number]
    >;
    const deliveries = new Map(pending.map(([id, , , n]) => [id, n]));
    return live.map(([entry_id, fields]) => ({
      type: name,
      entry_id,
      ...readFields(fields),
      deliveries: deliveries.get(entry_id) ?? 2,
    }));
  };
  const readers: Array<{ close(): Promise<void> }> = [];
  const notSent = (type: string) =>
    new DianaError(EVENT_BUS_ERROR_CODES.PUBLISH_FAILED, `${type}: not sent (the caller stopped waiting)`);

  const scripts = client as RedisClient & Scripts;
  // With wait_replicas, WAIT goes in one pipeline with the script: a pipeline goes to one node on
  // one connection (on a cluster, the stream's master), and WAIT counts the replicas that have
  // every write of that connection so far, the batch included.
  const appendAndWait = async (batchKeys: string[], args: Array<string | number>) => {
    const pipeline = client.pipeline() as ReturnType<RedisClient['pipeline']> & {
      appendBatch(...keysAndArgs: Array<string | number>): unknown;
    };
    pipeline.appendBatch(batchKeys.length, ...batchKeys, ...args);
    pipeline.wait(waitReplicas, waitTimeout);
    const [[appendError, replies] = [null, []], [waitError, confirmed] = [null, 0]] = ((await pipeline.exec()) ??
      []) as Array<[Error | null, unknown]>;
    if (appendError) throw appendError;
    if (!waitError && Number(confirmed) >= waitReplicas) return replies as string[];
    const notReplicated = new DianaError(
      EVENT_BUS_ERROR_CODES.PUBLISH_NOT_REPLICATED,
      waitError
        ? `appended on the master; WAIT failed: ${waitError.message}`
        : `appended on the master, but ${Number(confirmed)} of ${waitReplicas} replicas confirmed it within ${waitTimeout} ms`,
      waitError ? { cause: waitError } : undefined,
    );
    return (replies as string[]).map((reply) => (reply.startsWith('!') ? reply : notReplicated));
  };
  // a stream's keep mark, beside it (its hash tag): set at its first append, gone with its data
  const keepKey = (stream: string) => `${stream}:keep`;
  // per stream, the highest id this transport's relayed appends got: a stream found below it
  // (Redis restarted from an older snapshot) lost its last entries
  const floors = new Map<string, string>();
  const appendBatched = createAppendBatcher(
    waitReplicas === 0
      ? (batchKeys, args) => scripts.appendBatch(batchKeys.length, ...batchKeys, ...args)
      : appendAndWait,
    // one server: every stream of a turn in one call; a cluster: one call per stream (its slot)
    {
      max_len: maxLen,
      max_batch: batchMax,
      default_ttl_ms: 86_400_000,
      one_call: !isCluster(client),
      keep_key: keepKey,
      floors,
    },
  );

  // the stream an append of `type` goes to: its partition's by `partitionKey`
  const streamOf = (type: string, partitionKey: string | undefined) => {
    const count = countOf(type);
    return keys.stream(
      count === 1 || partitionKey === undefined ? type : partitionName(type, partitionOf(partitionKey, count)),
    );
  };

  const transport: StreamTransport = {
    name: 'redis-streams',
    append(type, raw, appendOptions) {
      const stream = streamOf(type, appendOptions?.partition_key);
      const signal = appendOptions?.signal;
      const dedupe = appendOptions?.dedupe_id;
      const append: QueuedAppend = {
        raw,
        marker: dedupe ? `${stream}:seen:${dedupe}` : undefined,
        ttl_ms: dedupe ? appendOptions?.dedupe_ttl_ms : undefined,
        signal,
        on_unmarked:
          appendOptions?.on_stream_unmarked &&
          ((history: boolean) => appendOptions.on_stream_unmarked?.(stream, history)),
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
      for (const name of namesOf(type)) {
        const start = lastSeen.get(`${name}\u0000${group}`) ?? '0';
        try {
          await (await ready()).xgroup('CREATE', keys.stream(name), group, start, 'MKSTREAM');
        } catch (error) {
          if (!String((error as Error).message).startsWith('BUSYGROUP')) throw error;
        }
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
      // the reader works on stream names; the bus on types, each type's partitions all read
      return {
        ...reader,
        readGroup: async (args) => {
          const own = args.own_pending && expandCursors(args.own_pending);
          const read = await reader.readGroup({
            ...args,
            types: args.types.flatMap(namesOf),
            ...(own ? { own_pending: own } : {}),
            ...(args.ack ? { ack: args.ack.map((d) => (d.partition ? { ...d, type: nameOf(d) } : d)) } : {}),
          });
          if (own && args.own_pending) foldCursors(own, args.own_pending);
          return seen(args.group, read).map(fromName);
        },
        readBroadcast: async (args) => {
          const streams = expandCursors(args.cursors);
          const read = await reader.readBroadcast({ ...args, cursors: streams });
          foldCursors(streams, args.cursors);
          return read.map(fromName);
        },
      };
    },
    async currentEnd(type) {
      const ends: string[] = [];
      for (const name of namesOf(type)) {
        const [last] = (await (await ready()).xrevrange(keys.stream(name), '+', '-', 'COUNT', 1)) as Array<
          [string, string[]]
        >;
        ends.push(last?.[0] ?? '0-0');
      }
      return ends.join(',');
    },
    async ack(group, deliveries) {
      // one XACK per stream, sent together (a pipeline may not span slots on a cluster)
      const c = await ready();
      await Promise.all([...groupByName(deliveries)].map(([name, ids]) => c.xack(keys.stream(name), group, ...ids)));
    },
    async deadLetter(group, delivery, info) {
      await (await ready()).deadLetter(
        keys.stream(nameOf(delivery)),
        dlqKey(nameOf(delivery)),
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
      for (const name of types.flatMap(namesOf)) {
        const stream = keys.stream(name);
        const at = `${name}\u0000${group}`;
        let cursor = claimCursors.get(at) ?? '0-0';
        for (let call = 0; call < CLAIM_CALLS_MOST && out.length < count; call++) {
          const [next, entries] = (await (
            await ready()
          ).xautoclaim(stream, group, consumer, min_idle_ms, cursor, 'COUNT', count - out.length)) as [
            string,
            Array<[string, string[] | null]>,
          ];
          cursor = next;
          out.push(...(await withDeliveries(name, group, consumer, entries)));
          if (cursor === '0-0') break;
        }
        claimCursors.set(at, cursor);
      }
      return seen(group, out).map(fromName);
    },
    async renew(group, consumer, deliveries) {
      for (const [name, ids] of groupByName(deliveries))
        await (await ready()).renew(keys.stream(name), group, consumer, ...ids);
    },
    async release(group, consumer, types, kept) {
      // a stop does not wait for Redis to come back: unreleased, the entries are claimed later
      if (client.status !== 'ready') throw new Error(`redis not ready (status ${client.status})`);
      const c = client as RedisClient & Scripts;
      const keptByName = groupByName(kept);
      let released = 0;
      for (const name of types.flatMap(namesOf)) {
        try {
          released += await c.release(
            keys.stream(name),
            group,
            consumer,
            RELEASED_IDLE_MS,
            RELEASE_MOST,
            ...(keptByName.get(name) ?? []),
          );
        } catch (error) {
          // no stream or group yet: nothing was read from it
          if (!/NOGROUP|no such key/i.test(String((error as Error).message))) throw error;
        }
      }
      return released;
    },
    async markOnce(key, ttl_ms) {
      // slot: one key (SET NX)
      return (await (await ready()).set(`${prefix}${key}`, '1', 'PX', ttl_ms, 'NX')) === 'OK';
    },
    // Dead letters, trimming and stats go partition by partition (each partition's dead letters
    // sit beside it, in its slot); lists come partition after partition, counts are summed.
    async listDeadLetters(type, limit) {
      const out: DeadLetter[] = [];
      for (const [p, name] of namesOf(type).entries()) {
        if (out.length >= limit) break;
        const entries = (await (await ready()).xrange(dlqKey(name), '-', '+', 'COUNT', limit - out.length)) as Array<
          [string, string[]]
        >;
        out.push(...entries.map(([dlq_id, fields]) => toDeadLetter(type, dlq_id, fields, p)));
      }
      return out;
    },
    async countDeadLetters(type) {
      let total = 0;
      for (const name of namesOf(type)) total += await (await ready()).xlen(dlqKey(name));
      return total;
    },
    async replayDeadLetters(type, ids) {
      let replayed = 0;
      if (ids) {
        // a page per script call, as below: the CLI hands over up to 10 000 listed ids
        for (const [name, entryIds] of byPartition(type, ids))
          for (let at = 0; at < entryIds.length; at += REPLAY_PAGE)
            replayed += await (await ready()).replay(
              keys.stream(name),
              dlqKey(name),
              maxLen,
              ...entryIds.slice(at, at + REPLAY_PAGE),
            );
        return replayed;
      }
      // every letter there is as it begins, a page at a time (it stopped at 10 000, silently); a
      // letter written meanwhile (a replayed entry failing again) comes after, for the next replay
      for (const name of namesOf(type)) {
        const [newest] = (await (await ready()).xrevrange(dlqKey(name), '+', '-', 'COUNT', 1)) as Array<
          [string, string[]]
        >;
        let from = '-';
        while (newest) {
          const page = (await (await ready()).xrange(dlqKey(name), from, newest[0], 'COUNT', REPLAY_PAGE)) as Array<
            [string, string[]]
          >;
          const pageIds = page.map(([id]) => id);
          if (pageIds.length > 0)
            replayed += await (await ready()).replay(keys.stream(name), dlqKey(name), maxLen, ...pageIds);
          if (pageIds.length < REPLAY_PAGE) break;
          from = `(${pageIds[pageIds.length - 1]}`;
        }
      }
      return replayed;
    },
    async purgeDeadLetters(type, ids) {
      let purged = 0;
      if (ids) {
        for (const [name, entryIds] of byPartition(type, ids)) purged += await client.xdel(dlqKey(name), ...entryIds);
        return purged;
      }
      // counted and deleted in one script per partition: XLEN then DEL deleted, uncounted, a
      // letter written between the two
      for (const name of namesOf(type)) purged += await (await ready()).purgeAll(dlqKey(name));
      return purged;
    },
    async trim(type, trimOptions) {
      let removed = 0;
      for (const name of namesOf(type)) removed += await trimStream(keys.stream(name), trimOptions?.unread_kept_ms);
      return removed;
    },
    async groupStats(type) {
      // one line per group: lag and pending summed over the partitions, the oldest pending age the largest
      const byGroup = new Map<string, GroupStats>();
      for (const name of namesOf(type)) {
        for (const s of await streamStats(type, keys.stream(name))) {
          const before = byGroup.get(s.group);
          byGroup.set(
            s.group,
            before
              ? {
                  ...before,
                  lag: before.lag + s.lag,
                  pending: before.pending + s.pending,
                  oldest_pending_ms: Math.max(before.oldest_pending_ms, s.oldest_pending_ms),
                }
              : s,
          );
        }
      }
      return [...byGroup.values()];
    },
    async lostStreams(streams, witnesses = []) {
      // this transport's own streams only: the relay's records may hold another prefix's (one a
      // deployment used before), whose marks are not this transport's to read or set
      const own = streams.filter((stream) => stream.startsWith(`${prefix}{`));
      // per stream, the marker of the first witness that lands there (the newest: given newest first)
      const markers = new Map<string, { type: string; id: string }>();
      for (const witness of witnesses) {
        const stream = streamOf(witness.type, witness.partition_key);
        if (!markers.has(stream)) markers.set(stream, { type: witness.type, id: witness.dedupe_id });
      }
      const c = await ready();
      // a witness appended under another partition count or another prefix (changed since, on this
      // server) has its marker on another stream of its type: no evidence either way, left out
      for (const [stream, { type, id }] of markers) {
        if ((await c.exists(`${stream}:seen:${id}`)) === 1) continue;
        for (const other of streams)
          if (other !== stream && typeOfStreamKey(other) === type && (await c.exists(`${other}:seen:${id}`)) === 1) {
            markers.delete(stream);
            break;
          }
      }
      // a witness's stream the records missed (a pass that failed after its appends) is looked at
      // too, if it was appended to here (its keep mark): else it is new to this server
      const unrecorded = [...markers.keys()].filter((stream) => !own.includes(stream));
      const checked = [...own, ...unrecorded];
      const found = await Promise.all(
        checked.map((stream, i) => {
          const witness = markers.get(stream);
          const floor = floors.get(stream) ?? '';
          return witness === undefined
            ? c.checkKeep(2, stream, keepKey(stream), floor)
            : c.checkKeep(
                3,
                stream,
                keepKey(stream),
                `${stream}:seen:${witness.id}`,
                floor,
                i < own.length ? '' : 'unrecorded',
              );
        }),
      );
      // a witness found: its id is a floor from now on (this process's appends may not reach it
      // before Redis goes back again)
      checked.forEach((stream, i) => {
        const reply = found[i];
        if (typeof reply === 'string' && reply.includes('-')) {
          const floor = floors.get(stream);
          if (floor === undefined || idBefore(floor, reply)) floors.set(stream, reply);
        }
      });
      return checked.filter((_, i) => found[i] === 1);
    },
    async streamLength(type) {
      let total = 0;
      for (const name of namesOf(type)) total += await (await ready()).xlen(keys.stream(name));
      return total;
    },
    async close() {
      await Promise.all(readers.map((reader) => reader.close()));
      client.disconnect();
    },
    [Symbol.asyncDispose]: () => transport.close(),
  };

  const trimStream = async (stream: string, unreadKeptMs: number | undefined) => {
    const groups = await groupInfo(stream);
    // no group reads it: entries past their retention go (ids are Redis's milliseconds)
    if (groups.length === 0)
      return unreadKeptMs === undefined
        ? 0
        : ((await (await ready()).xtrim(stream, 'MINID', `${Math.max(0, Date.now() - unreadKeptMs)}-0`)) as number);
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
  };
  const streamStats = async (type: string, stream: string) => {
    const out: GroupStats[] = [];
    for (const g of await groupInfo(stream)) {
      let oldest = 0;
      if (g.pending > 0) {
        const [, minPending] = (await (await ready()).xpending(stream, g.name)) as [number, string | null];
        if (minPending) oldest = Math.max(0, Date.now() - Number(minPending.split('-')[0]));
      }
      // Redis gives no lag once an entry past the group's position was deleted (XDEL): count it
      const lag = g.lag ?? (await (await ready()).lag(stream, g.last_delivered, LAG_COUNT_MOST));
      out.push({ type, group: g.name, lag, pending: g.pending, oldest_pending_ms: oldest });
    }
    return out;
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

/** Entry ids by the stream (type, partition) they are in. */
function groupByName(deliveries: readonly Delivery[]): Map<string, string[]> {
  const byName = new Map<string, string[]>();
  for (const d of deliveries) {
    const name = partitionName(d.type, d.partition ?? 0);
    byName.set(name, [...(byName.get(name) ?? []), d.entry_id]);
  }
  return byName;
}

function toDeadLetter(type: string, id: string, fields: readonly string[], partition: number): DeadLetter {
  const get = (name: string) => {
    for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
    return undefined;
  };
  return {
    dlq_id: partition === 0 ? id : `${partition}/${id}`,
    type,
    ...(partition === 0 ? {} : { partition }),
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
  const ad = a.indexOf('-');
  const bd = b.indexOf('-');
  const am = Number(ad < 0 ? a : a.slice(0, ad));
  const bm = Number(bd < 0 ? b : b.slice(0, bd));
  if (am !== bm) return am - bm;
  return (ad < 0 ? 0 : Number(a.slice(ad + 1))) - (bd < 0 ? 0 : Number(b.slice(bd + 1)));
}

function nextId(id: string): string {
  const [ms = '0', seq = '0'] = id.split('-');
  return `${ms}-${Number(seq) + 1}`;
}
