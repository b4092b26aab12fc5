// The blocking reader of the Redis Streams transport: one lane (connection + watchdog) per hash
// tag, read at once, with what a lane read beyond the count carried to the next call. Over 300
// lines because the lanes, their watchdogs and the carried entries share one state.
import { isCluster, type RedisClient } from '@diana/redis';
import { createFailureStreak, type Logger } from '@diana/utils';
import type { Delivery, StreamReader } from '../types.js';

type StreamReply = Array<[string, Array<[string, string[]]>]> | null;

/** Maps a key back to its event type and reads entry fields. */
export interface KeySpace {
  stream(type: string): string;
  typeOf(key: string): string;
}

/** One blocking connection with its watchdog: all a single server needs, one per slot on a cluster. */
interface Lane {
  /** Runs a read on this lane's connection, rebuilt when it does not return in `block_ms` + `watchdog_ms`. */
  blocking(block_ms: number, read: (c: RedisClient) => Promise<unknown>): Promise<StreamReply>;
  /** A read of new entries started by an earlier call and not yet handed out (cluster only). */
  inflight: { settled: boolean; result?: Delivery[]; error?: unknown; done: Promise<void> } | undefined;
  close(): void;
}

/**
 * One blocking reader. A watchdog rebuilds a connection when a read does not return within
 * `block_ms` + `watchdog_ms` (a read can hang forever on a half-open connection after a Redis
 * restart or pause — a known failure of other stream consumers).
 *
 * On one server every stream is read in one command on one connection. On a Redis Cluster a
 * command may only name keys of one slot, and a blocking read holds its node's connection, so
 * the reader keeps one lane (connection + watchdog) per hash tag — per event type — and reads
 * the lanes at once: a call returns as soon as one lane has entries, with whatever the others
 * have by then; a lane's read still in flight is handed out by a later call (its entries are
 * already delivered to the group, so they are never dropped: if the reader is closed first,
 * the stop hands them back to the group).
 */
export function createRedisReader(options: {
  readonly connect: () => RedisClient;
  readonly keys: KeySpace;
  readonly watchdog_ms: number;
  readonly logger: Logger;
}): StreamReader {
  const listeners: Array<() => void> = [];
  const notifyReconnect = () => {
    for (const listener of listeners) listener();
  };
  const first = createLane(options, notifyReconnect);
  const cluster = isCluster(first.conn());
  const lanes = new Map<string, Lane>([['', first]]);
  // on a cluster the first connection becomes the lane of the first hash tag read
  let spare: Lane | undefined = cluster ? first : undefined;
  const laneFor = (tag: string): Lane => {
    let lane = lanes.get(`{${tag}`);
    if (!lane) {
      lane = spare ?? createLane(options, notifyReconnect);
      spare = undefined;
      lanes.set(`{${tag}`, lane);
    }
    return lane;
  };
  /** Keys by the lane that reads them: one lane on one server, one per hash tag on a cluster. */
  const byLane = (keys: readonly string[]): Map<Lane, string[]> => {
    const out = new Map<Lane, string[]>();
    for (const key of keys) {
      const lane = cluster ? laneFor(hashTag(key)) : first;
      out.set(lane, [...(out.get(lane) ?? []), key]);
    }
    return out;
  };

  const toDeliveries = (reply: StreamReply): Delivery[] => {
    const out: Delivery[] = [];
    for (const [key, entries] of reply ?? []) {
      const type = options.keys.typeOf(key);
      for (const [entry_id, fields] of entries) {
        out.push({ type, entry_id, ...readFields(fields), deliveries: 1 });
      }
    }
    return out;
  };

  /**
   * Runs `read(lane, keys)` on every lane of `keys` at once and returns what the lanes have as
   * soon as one has entries (or all are empty). On one lane, simply that lane's read.
   */
  const readLanes = async (
    keys: readonly string[],
    read: (lane: Lane, keys: string[], share: number) => Promise<Delivery[]>,
  ): Promise<Delivery[]> => {
    const groups = byLane(keys);
    if (groups.size === 1) {
      const [[lane, laneKeys]] = [...groups] as [[Lane, string[]]];
      if (!lane.inflight) return read(lane, laneKeys, 1);
    }
    for (const [lane, laneKeys] of groups) {
      if (lane.inflight) continue;
      const flight: NonNullable<Lane['inflight']> = { settled: false, done: Promise.resolve() };
      flight.done = read(lane, laneKeys, groups.size).then(
        (result) => {
          flight.settled = true;
          flight.result = result;
        },
        (error: unknown) => {
          flight.settled = true;
          flight.error = error;
        },
      );
      lane.inflight = flight;
    }
    const flights = [...groups.keys()].map((lane) => lane.inflight as NonNullable<Lane['inflight']>);
    // until one lane has entries or failed, or all are done
    while (!flights.every((f) => f.settled)) {
      const pending = flights.filter((f) => !f.settled);
      await Promise.race(pending.map((f) => f.done));
      if (flights.some((f) => f.settled && (f.error !== undefined || (f.result?.length ?? 0) > 0))) break;
    }
    const out: Delivery[] = [];
    let failure: unknown;
    for (const lane of groups.keys()) {
      const flight = lane.inflight;
      if (!flight?.settled) continue;
      lane.inflight = undefined;
      if (flight.error !== undefined) failure ??= flight.error;
      else out.push(...(flight.result ?? []));
    }
    // entries already read are handed out; the error shows on the next call if nothing was read
    if (out.length === 0 && failure !== undefined) throw failure;
    return out;
  };

  // XREADGROUP with an id reads the consumer's own pending list (and counts a delivery);
  // the counts come from XPENDING, as after a claim.
  const readOwn = async (group: string, consumer: string, cursors: Map<string, string>, count: number) => {
    const out: Delivery[] = [];
    for (const [lane, keys] of byLane([...cursors.keys()].map((type) => options.keys.stream(type)))) {
      const types = keys.map((key) => options.keys.typeOf(key));
      // through the watchdog like any read: with Redis down the command would wait in the queue
      const reply = await lane.blocking(0, (c) =>
        c.xreadgroup(
          'GROUP',
          group,
          consumer,
          'COUNT',
          count,
          'STREAMS',
          ...keys,
          ...types.map((type) => cursors.get(type) ?? '0-0'),
        ),
      );
      for (const [key, entries] of reply ?? []) {
        const live = entries.filter(([, fields]) => fields !== null);
        const type = options.keys.typeOf(key);
        const last = entries.at(-1)?.[0];
        if (last) cursors.set(type, last);
        if (live.length === 0) continue;
        const pending = (await lane.blocking(0, (c) =>
          c.xpending(key, group, live[0]?.[0] ?? '-', live.at(-1)?.[0] ?? '+', live.length, consumer),
        )) as unknown as Array<[string, string, number, number]>;
        const counts = new Map(pending.map(([id, , , n]) => [id, n]));
        for (const [entry_id, fields] of live)
          out.push({ type, entry_id, ...readFields(fields), deliveries: counts.get(entry_id) ?? 2 });
      }
    }
    return out;
  };

  // What lanes read beyond a call's `count` (several lanes at once): handed out first by the
  // next calls, so a caller never gets more than it asked for (a consumer's concurrency holds).
  const carried = { group: [] as Delivery[], broadcast: [] as Delivery[] };
  const atMost = (list: Delivery[], count: number, carry: Delivery[]) => {
    if (list.length > count) carry.push(...list.splice(count));
    return list;
  };

  /**
   * Sends `ack`'s XACKs (one per stream), then `read` if given, in one write on one connection
   * (the socket corked around them: no pipeline object to build): Redis runs the acks before the
   * read waits. The call settles with the read; an error of either fails it (the read's first:
   * it says the most).
   */
  const ackThen = async (c: RedisClient, group: string, ack: readonly Delivery[], read?: Array<string | number>) => {
    const ids = new Map<string, string[]>();
    for (const d of ack) {
      const key = options.keys.stream(d.type);
      const list = ids.get(key);
      if (list) list.push(d.entry_id);
      else ids.set(key, [d.entry_id]);
    }
    // one server only (acks never ride on a cluster); a connection not ready queues both instead
    const socket = c.status === 'ready' && 'stream' in c ? c.stream : undefined;
    socket?.cork();
    let acks: Array<Promise<unknown>>;
    let reading: Promise<unknown> | undefined;
    try {
      acks = [...ids].map(([key, list]) => c.xack(key, group, ...list));
      reading = read && (xreadgroup(c, read) as Promise<unknown>);
    } finally {
      socket?.uncork();
    }
    const [readResult, ...ackResults] = await Promise.allSettled([reading, ...acks]);
    if (readResult?.status === 'rejected') throw readResult.reason;
    const failed = ackResults.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
    return (readResult?.status === 'fulfilled' ? (readResult.value ?? null) : null) as StreamReply;
  };

  return {
    // on a cluster the streams of a read span lanes, and an ack must go to its entry's lane
    acks_with_reads: !cluster,
    async readGroup({ group, consumer, types, count, block_ms, own_pending, ack }) {
      const acks = ack && ack.length > 0 ? ack : undefined;
      if (acks && (cluster || own_pending)) throw new Error('acks ride a read of new entries on one server only');
      if (own_pending) return readOwn(group, consumer, own_pending, count);
      if (carried.group.length > 0) {
        // entries a read of several streams brought beyond its count (COUNT is per stream): no
        // read goes out, the acks alone do
        if (acks) await first.blocking(0, (c) => ackThen(c, group, acks));
        return carried.group.splice(0, Math.max(1, count));
      }
      const read = await readLanes(
        types.map((type) => options.keys.stream(type)),
        async (lane, keys, share) => {
          const args = [
            'GROUP',
            group,
            consumer,
            'COUNT',
            // lanes read at once share the count, so a call hands out about `count` entries
            Math.max(1, Math.ceil(count / share)),
            'BLOCK',
            block_ms,
            'STREAMS',
            ...keys,
            ...keys.map(() => '>'),
          ];
          return toDeliveries(
            await lane.blocking(block_ms, (c) =>
              acks ? ackThen(c, group, acks, args) : (xreadgroup(c, args) as Promise<StreamReply>),
            ),
          );
        },
      );
      return atMost(read, Math.max(1, count), carried.group);
    },
    async readBroadcast({ cursors, count, block_ms }) {
      // carried entries first; the cursors move as entries are handed out, so a lane reads on
      // from the last one handed out only once nothing is carried
      const deliveries =
        carried.broadcast.length > 0
          ? carried.broadcast.splice(0, Math.max(1, count))
          : atMost(
              await readLanes(
                [...cursors.keys()].map((type) => options.keys.stream(type)),
                async (lane, keys, share) =>
                  toDeliveries(
                    await lane.blocking(block_ms, (c) =>
                      c.xread(
                        'COUNT',
                        Math.max(1, Math.ceil(count / share)),
                        'BLOCK',
                        block_ms,
                        'STREAMS',
                        ...keys,
                        ...keys.map((key) => cursors.get(options.keys.typeOf(key)) ?? '$'),
                      ),
                    ),
                  ),
              ),
              Math.max(1, count),
              carried.broadcast,
            );
      for (const d of deliveries) cursors.set(d.type, d.entry_id);
      return deliveries;
    },
    onReconnect(listener) {
      listeners.push(listener);
    },
    async close() {
      for (const lane of lanes.values()) lane.close();
    },
  };
}

/**
 * XREADGROUP with a built argument list, on a client or a pipeline (ioredis's typings want each
 * keyword spelled out). The named command, not `call`: ioredis turns its RESP3 reply into
 * [key, entries] pairs.
 */
function xreadgroup(target: object, args: Array<string | number>): unknown {
  return (Reflect.get(target, 'xreadgroup') as (...a: Array<string | number>) => unknown).apply(target, args);
}

/** The part of a key Redis Cluster hashes: between the first `{` and the next `}`, if not empty. */
export function hashTag(key: string): string {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) return key.slice(open + 1, close);
  }
  return key;
}

function createLane(
  options: { readonly connect: () => RedisClient; readonly watchdog_ms: number; readonly logger: Logger },
  notifyReconnect: () => void,
): Lane & { conn(): RedisClient } {
  let conn = options.connect();
  let everReady = false;
  // A connection that comes (back) after any loss — even one lost before it was first ready,
  // while reads were already positioned — may have missed entries: listeners resync.
  let lost = false;
  const watch = (c: RedisClient) => {
    c.on('close', () => {
      lost = true;
    });
    c.on('ready', () => {
      if (everReady || lost) notifyReconnect();
      everReady = true;
      lost = false;
    });
  };
  watch(conn);

  // through an outage: a warning at the first rebuild, the next ones (no read returned between) at debug
  const rebuilds = createFailureStreak({ logger: options.logger, message: 'rebuilding blocking stream connection' });
  const rebuild = (reason: string) => {
    rebuilds.failed(undefined, { reason });
    const old = conn;
    let next: RedisClient;
    try {
      next = options.connect();
    } catch (error) {
      // the connector was closed under this read (the app closed it before the bus): there is
      // nothing to rebuild on, and a throw here, in a timer, would end the process
      options.logger.debug({ err: error }, 'blocking stream connection not rebuilt: its connector is closed');
      old.disconnect();
      return;
    }
    conn = next;
    watch(conn);
    old.disconnect();
    notifyReconnect();
  };

  return {
    conn: () => conn,
    inflight: undefined,
    async blocking(block_ms, read) {
      const current = conn;
      let timer: NodeJS.Timeout | undefined;
      try {
        const reply = await Promise.race([
          // The named commands (not `call`): ioredis turns their RESP3 replies into [key, entries] pairs.
          read(current) as Promise<StreamReply>,
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              if (current === conn) rebuild(`read did not return within ${block_ms + options.watchdog_ms} ms`);
              reject(new Error('watchdog: blocking read hung; connection rebuilt'));
            }, block_ms + options.watchdog_ms);
          }),
        ]);
        rebuilds.succeeded();
        return reply;
      } finally {
        clearTimeout(timer);
      }
    },
    close() {
      conn.disconnect();
    },
  };
}

/** The envelope (`e`) and target group (`g`) of an entry's flat field list. */
export function readFields(fields: readonly string[] | null | undefined): {
  raw: string | undefined;
  only_group?: string;
} {
  let raw: string | undefined;
  let only_group: string | undefined;
  for (let i = 0; i + 1 < (fields?.length ?? 0); i += 2) {
    if (fields?.[i] === 'e') raw = fields[i + 1];
    if (fields?.[i] === 'g') only_group = fields[i + 1];
  }
  return only_group ? { raw, only_group } : { raw };
}
