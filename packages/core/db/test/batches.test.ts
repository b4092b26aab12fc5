// inBatches: the loop of bounded deletes, on a fake statement (the SQL is its callers': the event
// tables' and the told notices' retention tests run it on PostgreSQL).
import { describe, expect, it } from 'vitest';
import { type Batch, inBatches } from '../src/batches.js';

/** A statement over `rows` keys removing up to `batch` past `after`; the keys each call got. */
function table(rows: number, batch: number) {
  const keys = Array.from({ length: rows }, (_, i) => String(i).padStart(4, '0'));
  const calls: string[] = [];
  const remove = async (after: string): Promise<Batch[]> => {
    calls.push(after);
    const gone = keys.filter((key) => key > after).slice(0, batch);
    return [{ removed: gone.length, last: gone.at(-1) ?? null }];
  };
  return { remove, calls };
}

describe('inBatches', () => {
  it('goes on after the last key removed until a batch comes back short', async () => {
    const { remove, calls } = table(7, 3);
    expect(await inBatches({ batch: 3, max_batches: 10 }, '', remove)).toBe(7);
    expect(calls).toEqual(['', '0002', '0005']);
  });

  it('sends at most max_batches statements; the rest is left for the next call', async () => {
    const { remove, calls } = table(10, 3);
    expect(await inBatches({ batch: 3, max_batches: 2 }, '', remove)).toBe(6);
    expect(calls).toHaveLength(2);
  });

  it('a full batch followed by an empty one stops at the empty one', async () => {
    const { remove, calls } = table(6, 3);
    expect(await inBatches({ batch: 3, max_batches: 10 }, '', remove)).toBe(6);
    expect(calls).toEqual(['', '0002', '0005']);
  });

  it('sends nothing once the signal has aborted, and nothing more after it aborts', async () => {
    const stop = new AbortController();
    stop.abort();
    const before = table(10, 3);
    expect(await inBatches({ batch: 3, max_batches: 10, signal: stop.signal }, '', before.remove)).toBe(0);
    expect(before.calls).toEqual([]);
    const during = new AbortController();
    const { remove, calls } = table(10, 3);
    const stopping = async (after: string) => {
      const result = await remove(after);
      during.abort(); // the relay closing while the first statement ran
      return result;
    };
    expect(await inBatches({ batch: 3, max_batches: 10, signal: during.signal }, '', stopping)).toBe(3);
    expect(calls).toHaveLength(1);
  });
});
