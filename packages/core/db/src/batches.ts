// Removing many rows without one long transaction: deletes of a bounded size, each going on
// after the last key the one before removed (not over the index entries it left dead), until one
// removes less than a batch, a cap is reached, or the caller stops. The event tables' retention
// and the told notices' retention use it.

/**
 * The longest retention a table's rows may be kept for: 10 years (a `now() - retention` further
 * back leaves PostgreSQL's timestamp range; 0, "for ever", is each setting's own). The event
 * tables' and the told notices' retentions are bounded by it.
 */
export const MAX_RETENTION_MS = 3_650 * 86_400_000;

/** How many rows per statement, how many statements at most, and when to stop sending them. */
export interface BatchOptions {
  /** Rows per statement (each its own short transaction). */
  readonly batch: number;
  /** Statements at most: what is left goes at the next call. */
  readonly max_batches: number;
  /** Aborted: no further statement is sent. */
  readonly signal?: AbortSignal;
}

/** What one statement removed, and the last key it removed (where the next one goes on). */
export interface Batch {
  readonly removed: number;
  readonly last: string | null;
}

/**
 * Runs `remove(after)` — one statement removing up to `options.batch` rows whose key is past
 * `after`, `first` for the first — until a statement removes fewer rows than a batch (or says no
 * last key), `max_batches` times at most, or until `signal` aborts; returns the rows removed.
 */
export async function inBatches(
  options: BatchOptions,
  first: string,
  remove: (after: string) => Promise<readonly Batch[]>,
): Promise<number> {
  let removed = 0;
  let after = first;
  for (let i = 0; i < options.max_batches && !options.signal?.aborted; i++) {
    const [batch] = await remove(after);
    removed += batch?.removed ?? 0;
    if (!batch?.last || batch.removed < options.batch) break;
    after = batch.last;
  }
  return removed;
}
