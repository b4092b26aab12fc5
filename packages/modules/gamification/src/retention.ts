// Told notices are kept for a while (what a user was told, and when), then removed: one row per
// payment, with its text, would otherwise grow for ever. Each process prunes every interval,
// off the handlers; several processes share the rows (a row another one is removing is skipped).
import { MAX_RETENTION_MS } from '@diana/db';
import { createFailureStreak, type Logger, parseOrThrow, runPeriodically } from '@diana/utils';
import * as v from 'valibot';
import { GAMIFICATION_ERROR_CODES } from './errors.js';
import type { PruneOptions } from './notices.js';

/** Rows per delete statement: each its own short transaction. */
const BATCH = 1_000;
/** Statements per prune at most (a first prune of a large table goes on at the next interval). */
const MAX_BATCHES = 25;

/** The module's settings (`createGamificationModule`'s first argument). */
export interface GamificationSettings {
  /** How long a told notice (`sent`, `undeliverable`) is kept after it was told, one left `sending` at least a day; at most 10 years; 0 keeps them all. @default 7 days */
  readonly notice_retention_ms?: number;
  /** How often `start()` removes notices past their retention. @default 60 000 */
  readonly notice_prune_interval_ms?: number;
}

const Settings = v.object({
  notice_retention_ms: v.optional(
    v.pipe(v.number(), v.safeInteger(), v.minValue(0), v.maxValue(MAX_RETENTION_MS)),
    7 * 86_400_000,
  ),
  notice_prune_interval_ms: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1)), 60_000),
});

/** The settings with their defaults, or `E_GAMIFICATION_CONFIG` listing what is wrong. */
export function gamificationSettings(settings: GamificationSettings): Required<GamificationSettings> {
  return parseOrThrow(Settings, settings, {
    code: GAMIFICATION_ERROR_CODES.CONFIG,
    message: 'invalid gamification settings',
  });
}

/** Runs `prune` every interval from `start` until `close` (a close waits for a prune under way). */
export function createNoticePruner(
  prune: (options: PruneOptions) => Promise<number>,
  settings: Required<GamificationSettings>,
  logger: Logger,
) {
  const stop = new AbortController();
  const failures = createFailureStreak({
    logger,
    message: 'removing payment notices past their retention failed; tried again at the next interval',
    recovered: 'payment notices past their retention are removed again',
  });
  let running: Promise<void> | undefined;
  const prunePast = async (signal: AbortSignal) => {
    const removed = await prune({
      retention_ms: settings.notice_retention_ms,
      batch: BATCH,
      max_batches: MAX_BATCHES,
      signal,
    });
    if (removed > 0) logger.debug({ removed }, 'payment notices past their retention removed');
  };
  return {
    start() {
      if (settings.notice_retention_ms === 0 || running || stop.signal.aborted) return;
      running = runPeriodically(
        { interval_ms: settings.notice_prune_interval_ms, signal: stop.signal, failures },
        prunePast,
      );
    },
    async close() {
      stop.abort();
      await running;
    },
  };
}
