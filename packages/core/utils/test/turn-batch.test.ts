import { describe, expect, it } from 'vitest';
import { createTurnBatcher } from '../src/turn-batch.js';

describe('createTurnBatcher', () => {
  it('sends the calls of one turn together and answers each caller with its own reply, in order', async () => {
    const sent: string[][] = [];
    const call = createTurnBatcher<string, string>(
      async (items) => {
        sent.push(items);
        return items.map((item) => item.toUpperCase());
      },
      { max_batch: 64, groupOf: () => '' },
    );
    expect(await Promise.all(['a', 'b', 'c'].map(call))).toEqual(['A', 'B', 'C']);
    expect(sent).toEqual([['a', 'b', 'c']]);
    expect(await call('d')).toBe('D'); // the next turn: a call of its own
    expect(sent).toHaveLength(2);
  });

  it('never mixes groups (a Cluster: one user per call) and splits at max_batch', async () => {
    const sent: Array<Array<{ user: string }>> = [];
    const call = createTurnBatcher<{ user: string }, number>(
      async (items) => {
        sent.push(items);
        return items.map(() => 1);
      },
      { max_batch: 2, groupOf: (item) => item.user },
    );
    await Promise.all(['u1', 'u2', 'u1', 'u1', 'u2'].map((user) => call({ user })));
    expect(sent.every((batch) => batch.every((item) => item.user === batch[0]?.user))).toBe(true);
    expect(sent.map((batch) => batch.length).sort()).toEqual([1, 2, 2]);
  });

  it('a failed call fails its own callers only', async () => {
    let fail = true;
    const call = createTurnBatcher<string, string>(
      async (items) => {
        if (fail) throw new Error('down');
        return items;
      },
      { max_batch: 64, groupOf: () => '' },
    );
    const first = await Promise.allSettled([call('a'), call('b')]);
    expect(first.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await call('c')).toBe('c');
  });
});
