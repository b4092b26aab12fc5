import { describe, expect, it } from 'vitest';
import { createDecisionBatcher, type SendDecisions } from '../src/adapters/redis-batch.js';

/** A fake script: allows a key's first `limit` calls; records each call's keys and decision count. */
function fakeRedis() {
  const used = new Map<string, number>();
  const calls: Array<{ keys: string[]; decisions: number }> = [];
  const send: SendDecisions = async (keys, args) => {
    calls.push({ keys, decisions: args.length / 4 });
    const out: number[] = [];
    for (let i = 0; i < args.length; i += 4) {
      const key = keys[(args[i] as number) - 1] as string;
      const n = (used.get(key) ?? 0) + 1;
      used.set(key, n);
      out.push(...(n <= (args[i + 2] as number) ? [1, (args[i + 2] as number) - n, 0] : [0, 0, 5_000]));
    }
    return out;
  };
  return { send, calls };
}
const ask = (key: string) => ({ key, interval: 1_000, limit: 2, cost: 1 });

describe('createDecisionBatcher', () => {
  it('sends the decisions of one turn as one call, and each caller gets its own decision in order', async () => {
    const redis = fakeRedis();
    const decide = createDecisionBatcher(redis.send, { max_batch: 64, groupOf: () => '' });
    const decisions = await Promise.all(['a', 'b', 'a', 'a', 'b', 'c'].map((key) => decide(ask(key))));
    expect(redis.calls).toEqual([{ keys: ['a', 'b', 'c'], decisions: 6 }]);
    expect(decisions.map((d) => d.allowed)).toEqual([true, true, true, false, true, true]);
    expect(decisions[3]).toEqual({ allowed: false, remaining: 0, retry_after_ms: 5 });
  });

  it('never puts two groups (Cluster slots) in one call, and splits at max_batch', async () => {
    const redis = fakeRedis();
    const decide = createDecisionBatcher(redis.send, { max_batch: 3, groupOf: (key) => key });
    await Promise.all(['a', 'b', 'a', 'a', 'a', 'b'].map((key) => decide(ask(key))));
    expect(redis.calls.every((call) => call.keys.length === 1)).toBe(true);
    expect(redis.calls.map((call) => call.decisions).sort()).toEqual([1, 2, 3]);
  });

  it('sends the next turn in a call of its own, and a failed call fails only its own callers', async () => {
    let fail = true;
    const redis = fakeRedis();
    const decide = createDecisionBatcher(
      (keys, args) => (fail ? Promise.reject(new Error('down')) : redis.send(keys, args)),
      { max_batch: 64, groupOf: () => '' },
    );
    const failed = await Promise.allSettled([decide(ask('a')), decide(ask('b'))]);
    expect(failed.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    fail = false;
    expect(await decide(ask('a'))).toMatchObject({ allowed: true });
    expect(redis.calls).toHaveLength(1);
  });
});
