import { EventEmitter } from 'node:events';
import { DianaError } from '@diana/utils';
import { EVENT_BUS_ERROR_CODES } from '../errors.js';
import type { DeadLetter, Delivery, GroupStats, StreamReader, StreamTransport } from '../types.js';

interface Entry {
  readonly id: string;
  readonly seq: number;
  readonly at: number;
  readonly raw: string | undefined;
  readonly only_group?: string;
}
interface Pending {
  consumer: string;
  deliveries: number;
  delivered_at: number;
}
interface Group {
  /** seq of the last entry delivered to the group. */
  cursor: number;
  readonly pending: Map<string, Pending>;
}
interface Stream {
  readonly entries: Entry[];
  readonly byId: Map<string, Entry>;
  readonly groups: Map<string, Group>;
  readonly dlq: DeadLetter[];
}

/** Options of the memory transport. */
export interface MemoryTransportOptions {
  /**
   * Cap on a stream's entries (default 1 000 000): past it the oldest go, as with the Redis
   * transport's `MAXLEN`, except those a group has not acknowledged (never lost here).
   */
  readonly max_len?: number;
}

/**
 * The transport in process memory, with Redis Streams' semantics: consumer groups with
 * pending entries, delivery counts, claiming by idle time, dead letters, trimming below what
 * every group acknowledged, markers that expire. For tests and the embedded default (one process).
 */
/** The memory transport: a StreamTransport that also says how many markers it holds. */
export interface MemoryTransport extends StreamTransport {
  /** Append-once and `once()` markers held (the expired ones go as new ones are set). */
  markers(): number;
}

export function createMemoryTransport(options: MemoryTransportOptions = {}): MemoryTransport {
  const maxLen = options.max_len ?? 1_000_000;
  const streams = new Map<string, Stream>();
  // append-once and once() markers, by when they expire: each is (re)inserted at the end when set,
  // so, their lifetimes being alike, the expired ones sit first and are dropped from the front
  // as new ones come (before, every relayed event's marker stayed for the life of the process)
  const onces = new Map<string, number>();
  const dedupe = new Map<string, { id: string; expires: number }>();
  const dropExpired = <V>(markers: Map<string, V>, expiresOf: (value: V) => number, now: number) => {
    for (const [key, value] of markers) {
      if (expiresOf(value) > now) break;
      markers.delete(key);
    }
  };
  const appended = new EventEmitter().setMaxListeners(0);
  let seq = 0;
  let lastMs = 0;
  let dlqSeq = 0;
  // `settled` waiters, by type and entry id: checked again when one of their groups lets go of it
  const waiters = new Map<string, Array<() => void>>();
  const entryKey = (type: string, entry_id: string) => `${type}\u0000${entry_id}`;
  const isSettled = (type: string, entry_id: string) => {
    const s = stream(type);
    const entry = s.byId.get(entry_id);
    if (!entry) return true; // trimmed: every group had acknowledged it
    for (const [name, g] of s.groups) {
      if (entry.only_group && entry.only_group !== name) continue;
      if (entry.seq > g.cursor || g.pending.has(entry_id)) return false;
    }
    return true;
  };
  const letGo = (type: string, entry_id: string) => {
    const key = entryKey(type, entry_id);
    const waiting = waiters.get(key);
    if (!waiting || !isSettled(type, entry_id)) return;
    waiters.delete(key);
    for (const resolve of waiting) resolve();
  };

  const stream = (type: string): Stream => {
    let s = streams.get(type);
    if (!s) {
      s = { entries: [], byId: new Map(), groups: new Map(), dlq: [] };
      streams.set(type, s);
    }
    return s;
  };
  const add = (type: string, raw: string | undefined, only_group?: string): string => {
    const now = Math.max(Date.now(), lastMs);
    lastMs = now;
    seq++;
    const entry: Entry = { id: `${now}-${seq}`, seq, at: now, raw, ...(only_group ? { only_group } : {}) };
    const s = stream(type);
    s.entries.push(entry);
    s.byId.set(entry.id, entry);
    if (s.entries.length > maxLen) capAt(type, s);
    appended.emit('append', type);
    return entry.id;
  };
  /** Removes the first `count` entries (each acknowledged by every group, or of no group's stream). */
  const dropOldest = (type: string, s: Stream, count: number) => {
    for (const entry of s.entries.splice(0, count)) {
      s.byId.delete(entry.id);
      letGo(type, entry.id);
    }
  };
  /** The highest seq every group has acknowledged (delivered and not pending). */
  const ackFloor = (s: Stream) => {
    let floor = Number.POSITIVE_INFINITY;
    for (const g of s.groups.values()) {
      floor = Math.min(floor, g.cursor);
      for (const id of g.pending.keys()) floor = Math.min(floor, (s.byId.get(id)?.seq ?? 1) - 1);
    }
    return floor;
  };
  /** How many leading entries are at or below `floor`, at most `most`. */
  const countUpTo = (s: Stream, floor: number, most: number) => {
    let count = 0;
    while (count < most && (s.entries[count]?.seq ?? Number.POSITIVE_INFINITY) <= floor) count++;
    return count;
  };
  // Past max_len the oldest entries go, but never one a group still needs (unread or pending):
  // the embedded relay marks a row once its entry is settled, and an entry dropped unread read as
  // settled, its row marked, its event lost. A stream no group reads drops its oldest.
  const capAt = (type: string, s: Stream) => {
    const excess = s.entries.length - maxLen;
    dropOldest(type, s, s.groups.size === 0 ? excess : countUpTo(s, ackFloor(s), excess));
  };
  const deliver = (type: string, entry: Entry, p: Pending): Delivery => ({
    type,
    entry_id: entry.id,
    raw: entry.raw,
    deliveries: p.deliveries,
    ...(entry.only_group ? { only_group: entry.only_group } : {}),
  });
  const waitForAppend = (types: readonly string[], ms: number, closed?: AbortSignal) =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        appended.off('append', onAppend);
        appended.off('close', done);
        closed?.removeEventListener('abort', done);
        resolve();
      };
      if (closed?.aborted) return resolve();
      closed?.addEventListener('abort', done);
      const onAppend = (type: string) => {
        if (types.includes(type)) done();
      };
      const timer = setTimeout(done, ms);
      appended.on('append', onAppend);
      appended.on('close', done);
    });

  const readNew = (group: string, consumer: string, types: readonly string[], count: number): Delivery[] => {
    const out: Delivery[] = [];
    for (const type of types) {
      const g = stream(type).groups.get(group);
      if (!g) throw Object.assign(new Error(`NOGROUP ${group} on ${type}`), { code: 'NOGROUP' });
      for (const entry of stream(type).entries) {
        if (out.length >= count) return out;
        if (entry.seq <= g.cursor) continue;
        g.cursor = entry.seq;
        const p = { consumer, deliveries: 1, delivered_at: Date.now() };
        g.pending.set(entry.id, p);
        out.push(deliver(type, entry, p));
      }
    }
    return out;
  };

  /** The consumer's own pending entries after each cursor (as XREADGROUP with an id: counts a delivery). */
  const readOwn = (group: string, consumer: string, cursors: Map<string, string>, count: number): Delivery[] => {
    const out: Delivery[] = [];
    for (const [type, cursor] of cursors) {
      const s = stream(type);
      const after = s.byId.get(cursor)?.seq ?? seqOf(cursor);
      let taken = 0;
      for (const entry of s.entries) {
        const p = s.groups.get(group)?.pending.get(entry.id);
        if (taken >= count || entry.seq <= after || p?.consumer !== consumer) continue;
        p.deliveries++;
        p.delivered_at = Date.now();
        out.push(deliver(type, entry, p));
        cursors.set(type, entry.id);
        taken++;
      }
    }
    return out;
  };

  const transport: MemoryTransport = {
    name: 'memory',
    markers: () => onces.size + dedupe.size,
    async append(type, raw, options) {
      if (options?.signal?.aborted)
        throw new DianaError(EVENT_BUS_ERROR_CODES.PUBLISH_FAILED, `${type}: not sent (the caller stopped waiting)`);
      if (options?.dedupe_id) {
        const now = Date.now();
        const seen = dedupe.get(options.dedupe_id);
        if (seen && seen.expires > now) return seen.id;
        const id = add(type, raw);
        dedupe.delete(options.dedupe_id);
        dedupe.set(options.dedupe_id, { id, expires: now + (options.dedupe_ttl_ms ?? 86_400_000) });
        dropExpired(dedupe, (marker) => marker.expires, now);
        return id;
      }
      return add(type, raw);
    },
    settled(type, entry_id) {
      if (isSettled(type, entry_id)) return Promise.resolve();
      return new Promise<void>((resolve) => {
        const key = entryKey(type, entry_id);
        const waiting = waiters.get(key) ?? [];
        waiting.push(resolve);
        waiters.set(key, waiting);
      });
    },
    async ensureGroup(type, group) {
      const s = stream(type);
      if (!s.groups.has(group)) s.groups.set(group, { cursor: 0, pending: new Map() });
    },
    createReader(): StreamReader {
      const closed = new AbortController();
      return {
        async readGroup({ group, consumer, types, count, block_ms, own_pending }) {
          if (own_pending) return readOwn(group, consumer, own_pending, count);
          const now = readNew(group, consumer, types, count);
          if (now.length > 0) return now;
          await waitForAppend(types, block_ms, closed.signal);
          return closed.signal.aborted ? [] : readNew(group, consumer, types, count);
        },
        async readBroadcast({ cursors, count, block_ms }) {
          const read = () => {
            const out: Delivery[] = [];
            for (const [type, cursor] of cursors) {
              const after = stream(type).byId.get(cursor)?.seq ?? seqOf(cursor);
              for (const entry of stream(type).entries) {
                if (out.length >= count) break;
                if (entry.seq <= after) continue;
                out.push({ type, entry_id: entry.id, raw: entry.raw, deliveries: 1 });
                cursors.set(type, entry.id);
              }
            }
            return out;
          };
          const first = read();
          if (first.length > 0) return first;
          await waitForAppend([...cursors.keys()], block_ms, closed.signal);
          return closed.signal.aborted ? [] : read();
        },
        onReconnect() {},
        async close() {
          closed.abort();
        },
      };
    },
    async currentEnd(type) {
      return stream(type).entries.at(-1)?.id ?? `0-${seq}`;
    },
    async ack(group, deliveries) {
      for (const d of deliveries) {
        stream(d.type).groups.get(group)?.pending.delete(d.entry_id);
        letGo(d.type, d.entry_id);
      }
    },
    async deadLetter(group, delivery, info) {
      const s = stream(delivery.type);
      if (!s.groups.get(group)?.pending.has(delivery.entry_id)) return;
      s.dlq.push({
        dlq_id: `${Date.now()}-${++dlqSeq}`,
        type: delivery.type,
        group,
        error: info.error,
        attempts: info.attempts,
        failed_at: new Date().toISOString(),
        original_id: delivery.entry_id,
        raw: delivery.raw,
      });
      s.groups.get(group)?.pending.delete(delivery.entry_id);
      letGo(delivery.type, delivery.entry_id);
    },
    async claim({ group, consumer, types, min_idle_ms, count }) {
      const out: Delivery[] = [];
      const now = Date.now();
      for (const type of types) {
        for (const [id, p] of stream(type).groups.get(group)?.pending ?? []) {
          const entry = stream(type).byId.get(id);
          if (!entry || now - p.delivered_at < min_idle_ms || out.length >= count) continue;
          p.consumer = consumer;
          p.deliveries++;
          p.delivered_at = now;
          out.push(deliver(type, entry, p));
        }
      }
      return out;
    },
    async renew(group, consumer, deliveries) {
      for (const d of deliveries) {
        const p = stream(d.type).groups.get(group)?.pending.get(d.entry_id);
        if (p?.consumer === consumer) p.delivered_at = Date.now();
      }
    },
    async release(group, consumer, types, kept) {
      const running = new Set(kept.map((d) => entryKey(d.type, d.entry_id)));
      let released = 0;
      for (const type of types) {
        for (const [id, p] of stream(type).groups.get(group)?.pending ?? []) {
          if (p.consumer !== consumer || running.has(entryKey(type, id))) continue;
          p.delivered_at = 0; // idle since the epoch: the next claim takes it
          released++;
        }
      }
      return released;
    },
    async markOnce(key, ttl_ms) {
      const now = Date.now();
      if ((onces.get(key) ?? 0) > now) return false;
      onces.delete(key);
      onces.set(key, now + ttl_ms);
      dropExpired(onces, (expires) => expires, now);
      return true;
    },
    async listDeadLetters(type, limit) {
      return stream(type).dlq.slice(0, limit);
    },
    async countDeadLetters(type) {
      return stream(type).dlq.length;
    },
    async replayDeadLetters(type, ids) {
      const s = stream(type);
      const chosen = s.dlq.filter((d) => !ids || ids.includes(d.dlq_id));
      for (const d of chosen) {
        add(type, d.raw, d.group);
        s.dlq.splice(s.dlq.indexOf(d), 1);
      }
      return chosen.length;
    },
    async purgeDeadLetters(type, ids) {
      const s = stream(type);
      const before = s.dlq.length;
      const keep = s.dlq.filter((d) => ids && !ids.includes(d.dlq_id));
      s.dlq.splice(0, s.dlq.length, ...keep);
      return before - keep.length;
    },
    async trim(type, trimOptions) {
      const s = stream(type);
      let count = 0;
      if (s.groups.size === 0) {
        // no group reads it: entries past their retention go
        const kept = trimOptions?.unread_kept_ms;
        if (kept === undefined) return 0;
        const before = Date.now() - kept;
        while (count < s.entries.length && (s.entries[count]?.at ?? 0) < before) count++;
      } else count = countUpTo(s, ackFloor(s), s.entries.length);
      dropOldest(type, s, count);
      return count;
    },
    async groupStats(type) {
      const s = stream(type);
      const now = Date.now();
      const stats: GroupStats[] = [];
      for (const [group, g] of s.groups) {
        let oldest = 0;
        for (const id of g.pending.keys()) oldest = Math.max(oldest, now - (s.byId.get(id)?.at ?? now));
        stats.push({
          type,
          group,
          lag: s.entries.filter((e) => e.seq > g.cursor).length,
          pending: g.pending.size,
          oldest_pending_ms: oldest,
        });
      }
      return stats;
    },
    async streamLength(type) {
      return stream(type).entries.length;
    },
    async close() {
      appended.emit('close');
    },
    [Symbol.asyncDispose]: () => transport.close(),
  };
  return transport;
}

function seqOf(id: string): number {
  return Number(id.split('-')[1] ?? 0);
}
