import { createTurnBatcher } from '@diana/utils';
import type { RateDecision } from '../rate-types.js';

/** One decision asked of Redis: the full key and the GCRA arguments. */
export interface QueuedDecision {
  readonly key: string;
  readonly interval: number;
  readonly limit: number;
  readonly cost: number;
}

/** Runs `lua/gcra-batch.lua`: `keys` distinct, `args` four per decision; three integers back per decision. */
export type SendDecisions = (keys: string[], args: number[]) => Promise<number[]>;

/**
 * Coalesces the decisions asked in one turn of the event loop into one script call per group
 * (`groupOf`: one group on a single server, one per key on a Cluster so a call never spans two
 * slots), as the event bus coalesces its appends (`createTurnBatcher` of `@diana/utils`: no
 * timer, a batch leaves once the current turn's code has run or at `max_batch`). Each caller gets
 * its own decision or its own error; decisions of one key are made in the order they were asked.
 */
export function createDecisionBatcher(
  send: SendDecisions,
  options: { readonly max_batch: number; readonly groupOf: (key: string) => string },
): (decision: QueuedDecision) => Promise<RateDecision> {
  return createTurnBatcher<QueuedDecision, RateDecision>(
    async (batch) => {
      // each distinct key once in KEYS; a decision names its key by its 1-based index
      const index = new Map<string, number>();
      const keys: string[] = [];
      const args: number[] = [];
      for (const item of batch) {
        let k = index.get(item.key);
        if (k === undefined) {
          k = keys.push(item.key);
          index.set(item.key, k);
        }
        args.push(k, item.interval, item.limit, item.cost);
      }
      const replies = await send(keys, args);
      return batch.flatMap((_, i) => {
        const allowed = replies[i * 3];
        // replies come in order: a short reply leaves the last callers without one (rejected)
        if (allowed === undefined) return [];
        return [
          {
            allowed: allowed === 1,
            remaining: replies[i * 3 + 1] ?? 0,
            retry_after_ms: Math.ceil((replies[i * 3 + 2] ?? 0) / 1_000),
          },
        ];
      });
    },
    { max_batch: options.max_batch, groupOf: (decision) => options.groupOf(decision.key) },
  );
}
