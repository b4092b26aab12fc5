// Each update is handled once, and none is lost: a process claims an update_id for a short
// lease while it handles it, then marks it done for a day. A redelivery of a done update is
// answered 200 and skipped; one arriving while another process still holds the lease (or
// before that process's lease ran out after it died) gets an error, so Telegram sends it
// again later instead of it being dropped.

import { isCluster, type RedisClient } from '@diana/redis';
import { DianaError } from '@diana/utils';
import { LRUCache } from 'lru-cache';
import { BOT_ERROR_CODES } from './errors.js';

export interface UpdateDedupe {
  /** 'claimed': handle it; 'done': already handled; throws `E_BOT_UPDATE_IN_PROGRESS` while another holds it. */
  claim(update_id: number): Promise<'claimed' | 'done'>;
  done(update_id: number): Promise<void>;
  /** Handling failed before anything was answered: let a redelivery try again. */
  release(update_id: number): Promise<void>;
  /** Writes what is still held back (the Redis dedupe's done marks); nothing is claimed after. */
  close(): Promise<void>;
}

const LEASE_MS = 15_000;
const DONE_MS = 86_400_000;
/** Longest a handled update's done mark waits for the next claim to carry it (well within the lease). */
export const DONE_FLUSH_MS = 1_000;
const inProgress = (update_id: number) =>
  new DianaError(BOT_ERROR_CODES.UPDATE_IN_PROGRESS, `update ${update_id} is being handled elsewhere; retry later`, {
    context: { update_id },
  });

export interface RedisDedupeOptions {
  /** Done marks Redis did not take (it did not answer): they wait for the next claim again. */
  readonly onMarkError?: (error: unknown) => void;
}

/** What the dedupe's two writes need of a client or a pipeline. */
interface SetsPx {
  set(key: string, value: string, px: 'PX', ms: number): unknown;
  set(key: string, value: string, px: 'PX', ms: number, nx: 'NX'): unknown;
}

/** Done marks a process holds back at most (while Redis does not answer): the oldest go first. */
const MAX_WAITING_MARKS = 10_000;
/** Done marks one write carries at most: after an outage the backlog drains over several, none costly. */
const MARKS_PER_WRITE = 256;

/**
 * The dedupe on Redis. A handled update's done mark is not a round trip of its own: it waits
 * (at most `DONE_FLUSH_MS`) for the next claim, which carries it in the same write (a pipeline:
 * the marks, then the claim's SET NX). Meanwhile its lease still keeps other processes off it,
 * and this process answers a redelivery 'done' from memory. At 100 updates/s that is one Redis
 * write less per update, and the update is answered without waiting for its mark. A mark Redis
 * does not take waits again (the next claim, or the timer), at most `MARKS_PER_WRITE` per write.
 */
export function createRedisDedupe(redis: RedisClient, prefix: string, options: RedisDedupeOptions = {}): UpdateDedupe {
  // On a cluster the marks and the claim are sent side by side (each to its own slot's master),
  // not as one pipeline.
  // slot: one key per command (SET NX, GET, DEL)
  const key = (id: number) => `${prefix}update:${id}`;
  const marked = new Set<number>();
  let timer: NodeJS.Timeout | undefined;
  const schedule = () => {
    if (timer || marked.size === 0) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, DONE_FLUSH_MS);
    timer.unref();
  };
  const wait = (id: number) => {
    marked.add(id);
    if (marked.size > MAX_WAITING_MARKS) marked.delete(marked.values().next().value as number);
    schedule();
  };
  const takeMarks = () => {
    const ids: number[] = [];
    for (const id of marked) {
      if (ids.length === MARKS_PER_WRITE) break;
      ids.push(id);
    }
    for (const id of ids) marked.delete(id);
    if (marked.size === 0) {
      clearTimeout(timer);
      timer = undefined;
    }
    return ids;
  };
  const keep = (ids: readonly number[], error: unknown) => {
    for (const id of ids) wait(id);
    options.onMarkError?.(error);
  };
  // the two writes, on the client or into a pipeline (one spelling each)
  const setDone = (to: SetsPx, id: number) => to.set(key(id), 'done', 'PX', DONE_MS);
  const setClaim = (to: SetsPx, id: number) => to.set(key(id), 'processing', 'PX', LEASE_MS, 'NX');
  /** The marks, and after them a claim's SET NX: one pipeline on one server. Resolves to the claim's reply. */
  const send = async (ids: readonly number[], claim?: number): Promise<unknown> => {
    if (isCluster(redis)) {
      const marks = Promise.all(ids.map((id) => setDone(redis, id))).catch((error: unknown) => keep(ids, error));
      const [claimed] = await Promise.all([claim === undefined ? undefined : setClaim(redis, claim), marks]);
      return claimed;
    }
    const pipeline = redis.pipeline();
    for (const id of ids) setDone(pipeline, id);
    if (claim !== undefined) setClaim(pipeline, claim);
    let results: [Error | null, unknown][] | null;
    try {
      results = await pipeline.exec();
    } catch (error) {
      keep(ids, error);
      throw error;
    }
    const failed = results?.slice(0, ids.length).find(([error]) => error)?.[0];
    if (failed) keep(ids, failed);
    if (claim === undefined) return undefined;
    const [error, claimed] = results?.[ids.length] ?? [new Error('no reply to the claim')];
    if (error) throw error;
    return claimed;
  };
  const flush = async () => {
    const ids = takeMarks();
    schedule(); // what one write did not carry
    if (ids.length > 0) await send(ids).catch(() => {}); // kept for the next claim
  };
  return {
    async claim(id) {
      if (marked.has(id)) return 'done';
      const ids = takeMarks();
      if ((await (ids.length > 0 ? send(ids, id) : setClaim(redis, id))) === 'OK') return 'claimed';
      if ((await redis.get(key(id))) === 'done') return 'done';
      throw inProgress(id);
    },
    async done(id) {
      wait(id);
    },
    async release(id) {
      await redis.del(key(id));
    },
    async close() {
      for (let writes = Math.ceil(marked.size / MARKS_PER_WRITE); writes > 0 && marked.size > 0; writes--)
        await flush();
      clearTimeout(timer); // what Redis did not take now runs out with its lease
      timer = undefined;
    },
  };
}

export function createMemoryDedupe(): UpdateDedupe {
  const seen = new LRUCache<number, 'processing' | 'done'>({ max: 200_000, ttl: DONE_MS });
  return {
    async claim(id) {
      const state = seen.get(id);
      if (state === 'done') return 'done';
      if (state === 'processing') throw inProgress(id);
      seen.set(id, 'processing', { ttl: LEASE_MS });
      return 'claimed';
    },
    async done(id) {
      seen.set(id, 'done');
    },
    async release(id) {
      seen.delete(id);
    },
    close: async () => {},
  };
}

/**
 * Redis first; while Redis does not answer, this process's memory (a redelivery to another
 * process could then be handled twice — the modules' own guards make that harmless — but no
 * update waits for Redis).
 */
export function createResilientDedupe(
  redis: RedisClient,
  prefix: string,
  onFallback: (error: unknown) => void,
): UpdateDedupe {
  const shared = createRedisDedupe(redis, prefix, { onMarkError: onFallback });
  const local = createMemoryDedupe();
  const either = async <R>(remote: () => Promise<R>, fallback: () => Promise<R>): Promise<R> => {
    try {
      return await remote();
    } catch (error) {
      if (error instanceof DianaError) throw error; // in progress elsewhere: not a Redis failure
      onFallback(error);
      return fallback();
    }
  };
  return {
    claim: (id) =>
      either(
        () => shared.claim(id),
        () => local.claim(id),
      ),
    // never fails: a mark waits in the shared dedupe, in memory, until Redis takes it
    done: (id) => shared.done(id),
    release: (id) =>
      either(
        () => shared.release(id),
        () => local.release(id),
      ),
    close: () => shared.close(),
  };
}
