import type { Logger } from '@diana/utils';
import type { Redis } from 'ioredis';
import type { Delivery, StreamReader } from '../types.js';

type StreamReply = Array<[string, Array<[string, string[]]>]> | null;

/** Maps a key back to its event type and reads entry fields. */
export interface KeySpace {
  stream(type: string): string;
  typeOf(key: string): string;
}

/**
 * One blocking reader on its own connection. A watchdog rebuilds the connection when a read
 * does not return within `block_ms` + `watchdog_ms` (a read can hang forever on a half-open
 * connection after a Redis restart or pause — a known failure of other stream consumers).
 */
export function createRedisReader(options: {
  readonly connect: () => Redis;
  readonly keys: KeySpace;
  readonly watchdog_ms: number;
  readonly logger: Logger;
}): StreamReader {
  let conn = options.connect();
  let everReady = false;
  const listeners: Array<() => void> = [];
  const notifyReconnect = () => {
    for (const listener of listeners) listener();
  };
  // A connection that comes (back) after any loss — even one lost before it was first ready,
  // while reads were already positioned — may have missed entries: listeners resync.
  let lost = false;
  const watch = (c: Redis) => {
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

  const rebuild = (reason: string) => {
    options.logger.warn({ reason }, 'rebuilding blocking stream connection');
    const old = conn;
    conn = options.connect();
    watch(conn);
    old.disconnect();
    notifyReconnect();
  };

  const blocking = async (block_ms: number, read: (c: Redis) => Promise<unknown>): Promise<StreamReply> => {
    const current = conn;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        // The named commands (not `call`): ioredis turns their RESP3 replies into [key, entries] pairs.
        read(current) as Promise<StreamReply>,
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => {
            if (current === conn) rebuild(`read did not return within ${block_ms + options.watchdog_ms} ms`);
            reject(new Error('watchdog: blocking read hung; connection rebuilt'));
          }, block_ms + options.watchdog_ms);
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
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

  // XREADGROUP with an id reads the consumer's own pending list (and counts a delivery);
  // the counts come from XPENDING, as after a claim.
  const readOwn = async (group: string, consumer: string, cursors: Map<string, string>, count: number) => {
    const types = [...cursors.keys()];
    const keys = types.map((type) => options.keys.stream(type));
    // through the watchdog like any read: with Redis down the command would wait in the queue
    const reply = await blocking(0, (c) =>
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
    const out: Delivery[] = [];
    for (const [key, entries] of reply ?? []) {
      const live = entries.filter(([, fields]) => fields !== null);
      const type = options.keys.typeOf(key);
      const last = entries.at(-1)?.[0];
      if (last) cursors.set(type, last);
      if (live.length === 0) continue;
      const pending = (await blocking(0, (c) =>
        c.xpending(key, group, live[0]?.[0] ?? '-', live.at(-1)?.[0] ?? '+', live.length, consumer),
      )) as unknown as Array<[string, string, number, number]>;
      const counts = new Map(pending.map(([id, , , n]) => [id, n]));
      for (const [entry_id, fields] of live)
        out.push({ type, entry_id, ...readFields(fields), deliveries: counts.get(entry_id) ?? 2 });
    }
    return out;
  };

  return {
    async readGroup({ group, consumer, types, count, block_ms, own_pending }) {
      if (own_pending) return readOwn(group, consumer, own_pending, count);
      const keys = types.map((type) => options.keys.stream(type));
      const ids = keys.map(() => '>');
      const reply = await blocking(block_ms, (c) =>
        c.xreadgroup('GROUP', group, consumer, 'COUNT', count, 'BLOCK', block_ms, 'STREAMS', ...keys, ...ids),
      );
      return toDeliveries(reply);
    },
    async readBroadcast({ cursors, count, block_ms }) {
      const types = [...cursors.keys()];
      const keys = types.map((type) => options.keys.stream(type));
      const ids = types.map((type) => cursors.get(type) ?? '$');
      const reply = await blocking(block_ms, (c) =>
        c.xread('COUNT', count, 'BLOCK', block_ms, 'STREAMS', ...keys, ...ids),
      );
      const deliveries = toDeliveries(reply);
      for (const d of deliveries) cursors.set(d.type, d.entry_id);
      return deliveries;
    },
    onReconnect(listener) {
      listeners.push(listener);
    },
    async close() {
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
