// Each update is handled once, and none is lost: a process claims an update_id for a short
// lease while it handles it, then marks it done for a day. A redelivery of a done update is
// answered 200 and skipped; one arriving while another process still holds the lease (or
// before that process's lease ran out after it died) gets an error, so Telegram sends it
// again later instead of it being dropped.

import type { RedisClient } from '@diana/redis';
import { type Clock, createFailureStreak, DianaError, type Logger, SYSTEM_CLOCK } from '@diana/utils';
import { LRUCache } from 'lru-cache';
import { BOT_ERROR_CODES } from './errors.js';

export interface UpdateDedupe {
  /** 'claimed': handle it; 'done': already handled; throws `E_BOT_UPDATE_IN_PROGRESS` while another holds it. */
  claim(update_id: number): Promise<'claimed' | 'done'>;
  done(update_id: number): Promise<void>;
  /** Handling failed before anything was answered: let a redelivery try again. */
  release(update_id: number): Promise<void>;
}

const LEASE_MS = 15_000;
const DONE_MS = 86_400_000;
const inProgress = (update_id: number) =>
  new DianaError(BOT_ERROR_CODES.UPDATE_IN_PROGRESS, `update ${update_id} is being handled elsewhere; retry later`, {
    context: { update_id },
  });

export function createRedisDedupe(redis: RedisClient, prefix: string): UpdateDedupe {
  // slot: one key per command (SET NX, GET, DEL)
  const key = (id: number) => `${prefix}update:${id}`;
  return {
    async claim(id) {
      if ((await redis.set(key(id), 'processing', 'PX', LEASE_MS, 'NX')) === 'OK') return 'claimed';
      if ((await redis.get(key(id))) === 'done') return 'done';
      throw inProgress(id);
    },
    async done(id) {
      await redis.set(key(id), 'done', 'PX', DONE_MS);
    },
    async release(id) {
      await redis.del(key(id));
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
  };
}

/**
 * Redis first; while Redis does not answer, this process's memory (a redelivery to another
 * process could then be handled twice — the modules' own guards make that harmless — but no
 * update waits for Redis). An outage is logged once (a warning, the further fallbacks at debug,
 * a warning again each minute), and its end once at info (after 5 s without a fallback: with a
 * Redis Cluster master down, updates whose keys live on it fail while the others' work), not
 * once per update.
 */
export function createResilientDedupe(
  redis: RedisClient,
  prefix: string,
  logger: Logger,
  clock: Clock = SYSTEM_CLOCK,
): UpdateDedupe {
  const shared = createRedisDedupe(redis, prefix);
  const local = createMemoryDedupe();
  const outage = createFailureStreak({
    logger,
    message: 'update dedupe: Redis unavailable, this process remembers alone',
    recovered: 'update dedupe: Redis answers again',
    settle_ms: 5_000,
    clock,
  });
  const either = async <R>(remote: () => Promise<R>, fallback: () => Promise<R>): Promise<R> => {
    try {
      const result = await remote();
      outage.succeeded();
      return result;
    } catch (error) {
      if (error instanceof DianaError) throw error; // in progress elsewhere: not a Redis failure
      outage.failed(error);
      return fallback();
    }
  };
  return {
    claim: (id) =>
      either(
        () => shared.claim(id),
        () => local.claim(id),
      ),
    done: (id) =>
      either(
        () => shared.done(id),
        () => local.done(id),
      ),
    release: (id) =>
      either(
        () => shared.release(id),
        () => local.release(id),
      ),
  };
}
