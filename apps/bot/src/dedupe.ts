// Each update is handled once, and none is lost: a process claims an update_id while it handles
// it, then marks it done for a day. A redelivery of a done update is answered 200 and skipped;
// one arriving while another process holds the claim (or before that process's claim ran out
// after it died) gets an error, so Telegram sends it again later instead of it being dropped.
// The claim is a short lease that its process renews while the update runs (up to
// `hold_max_ms`): an update that runs longer than one lease (a send waiting out Telegram's 429)
// is not handled a second time elsewhere. Only its owner releases a claim.

import { randomUUID } from 'node:crypto';
import { explainRedisError, type RedisClient } from '@diana/redis';
import { type Clock, createFailureStreak, DianaError, type Logger, SILENT_LOGGER, SYSTEM_CLOCK } from '@diana/utils';
import { LRUCache } from 'lru-cache';
import { BOT_ERROR_CODES } from './errors.js';

export interface UpdateDedupe {
  /** 'claimed': handle it; 'done': already handled; throws `E_BOT_UPDATE_IN_PROGRESS` while another holds it. */
  claim(update_id: number): Promise<'claimed' | 'done'>;
  done(update_id: number): Promise<void>;
  /** Handling failed before anything was answered: let a redelivery try again. */
  release(update_id: number): Promise<void>;
}

export interface RedisDedupeOptions {
  /** How long a claim lasts unless renewed (its process renews it every third of this). */
  readonly lease_ms?: number;
  /** An update still running this long is taken for hung: its claim is no longer renewed. */
  readonly hold_max_ms?: number;
  readonly logger?: Logger;
}

const LEASE_MS = 15_000;
const HOLD_MAX_MS = 300_000;
const DONE_MS = 86_400_000;
const inProgress = (update_id: number) =>
  new DianaError(BOT_ERROR_CODES.UPDATE_IN_PROGRESS, `update ${update_id} is being handled elsewhere; retry later`, {
    context: { update_id },
  });

// the claim's value is its owner's token: renewed and released only by that owner
const RENEW =
  "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
const RELEASE = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";

export function createRedisDedupe(redis: RedisClient, prefix: string, options: RedisDedupeOptions = {}): UpdateDedupe {
  const { lease_ms = LEASE_MS, hold_max_ms = HOLD_MAX_MS, logger = SILENT_LOGGER } = options;
  // slot: one key per command (SET NX, GET, EVAL of one key)
  const key = (id: number) => `${prefix}update:${id}`;
  const owner = randomUUID();
  // the claims this process holds: update_id → when claimed, and whether its done mark is owed
  // (the update ended while Redis did not answer: written by the renewals once it answers again,
  // the claim renewed meanwhile, so no other process takes the update for one not handled)
  const held = new Map<number, { since: number; done_owed: boolean }>();
  let renewer: NodeJS.Timeout | undefined;
  const markDone = (id: number) => redis.set(key(id), 'done', 'PX', DONE_MS);
  const renew = async (id: number, claim: { since: number; done_owed: boolean }) => {
    if (claim.done_owed) {
      await markDone(id).then(
        () => held.delete(id),
        (error: unknown) => logger.debug({ err: error, update_id: id }, 'update done mark still owed'),
      );
      if (performance.now() - claim.since > DONE_MS) held.delete(id); // a day: the mark would have expired
      return;
    }
    if (performance.now() - claim.since > hold_max_ms) {
      held.delete(id);
      logger.warn(
        { update_id: id, hold_max_ms },
        'update still running past hold_max_ms; its claim is no longer renewed (a redelivery may run it again)',
      );
      return;
    }
    try {
      const renewed = await redis.eval(RENEW, 1, key(id), owner, lease_ms);
      // gone or another's (the lease ran out while Redis did not answer): nothing left to renew
      if (renewed !== 1 && held.delete(id))
        logger.warn({ update_id: id }, 'update claim lost while it ran (a redelivery may run it again)');
    } catch (error) {
      // Redis not answering: tried again at the next round, while the lease lasts
      logger.debug({ err: error, update_id: id }, 'update claim not renewed');
    }
  };
  const startRenewing = () => {
    renewer ??= setInterval(
      () => {
        if (held.size === 0) {
          clearInterval(renewer);
          renewer = undefined;
          return;
        }
        for (const [id, claim] of held) void renew(id, claim);
      },
      Math.max(1, Math.floor(lease_ms / 3)),
    ).unref();
  };
  return {
    async claim(id) {
      if ((await redis.set(key(id), owner, 'PX', lease_ms, 'NX')) === 'OK') {
        held.set(id, { since: performance.now(), done_owed: false });
        startRenewing();
        return 'claimed';
      }
      if ((await redis.get(key(id))) === 'done') return 'done';
      throw inProgress(id);
    },
    async done(id) {
      try {
        await markDone(id);
        held.delete(id);
      } catch (error) {
        const claim = held.get(id);
        if (claim) claim.done_owed = true;
        throw error;
      }
    },
    async release(id) {
      held.delete(id);
      await redis.eval(RELEASE, 1, key(id), owner);
    },
  };
}

/** This process alone: a claim lasts until its update is done or released (at most `hold_max_ms`). */
export function createMemoryDedupe(): UpdateDedupe & { state(update_id: number): 'running' | 'done' | undefined } {
  const done = new LRUCache<number, true>({ max: 200_000, ttl: DONE_MS });
  const running = new LRUCache<number, true>({ max: 200_000, ttl: HOLD_MAX_MS });
  const state = (id: number) => (done.has(id) ? 'done' : running.has(id) ? 'running' : undefined);
  return {
    state,
    async claim(id) {
      const known = state(id);
      if (known === 'done') return 'done';
      if (known === 'running') throw inProgress(id);
      running.set(id, true);
      return 'claimed';
    },
    async done(id) {
      running.delete(id);
      done.set(id, true);
    },
    async release(id) {
      running.delete(id);
    },
  };
}

/**
 * Redis first; while Redis does not answer, this process's memory (a redelivery to another
 * process could then be handled twice — the modules' own guards make that harmless — but no
 * update waits for Redis). What this process runs or ran is asked of its memory first: an update
 * claimed or ended while Redis did not answer is not claimed again here once it answers (before,
 * a redelivery then ran beside the first run, or was refused as in progress for minutes); a done
 * mark Redis did not take is written by the claim's renewals once it answers. An outage is
 * logged once (a warning, the further fallbacks at debug, a warning again each minute), and its
 * end once at info (after 5 s without a fallback: with a Redis Cluster master down, updates whose
 * keys live on it fail while the others' work), not once per update.
 */
export function createResilientDedupe(
  redis: RedisClient,
  prefix: string,
  logger: Logger,
  clock: Clock = SYSTEM_CLOCK,
  options: Omit<RedisDedupeOptions, 'logger'> = {},
): UpdateDedupe {
  const shared = createRedisDedupe(redis, prefix, { ...options, logger });
  const local = createMemoryDedupe();
  const outage = createFailureStreak({
    logger,
    message: 'update dedupe: Redis unavailable, this process remembers alone',
    explain: explainRedisError,
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
  const nothing = async () => {};
  return {
    async claim(id) {
      // this process's own first: an update it runs or ran here (claimed while Redis did not
      // answer, or ended while its done mark could not be written) is never claimed again here
      const known = local.state(id);
      if (known === 'done') return 'done';
      if (known === 'running') throw inProgress(id);
      return either(
        () => shared.claim(id),
        () => local.claim(id),
      );
    },
    async done(id) {
      await local.done(id);
      await either(() => shared.done(id), nothing);
    },
    async release(id) {
      await local.release(id);
      await either(() => shared.release(id), nothing);
    },
  };
}
