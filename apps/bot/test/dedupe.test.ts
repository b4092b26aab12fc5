import { isDianaError } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { createMemoryDedupe, createRedisDedupe, createResilientDedupe } from '../src/dedupe.js';

describe('update dedupe', () => {
  it('claims once; a redelivery while in progress is refused (Telegram retries), after done it is skipped', async () => {
    const dedupe = createMemoryDedupe();
    expect(await dedupe.claim(1)).toBe('claimed');
    const error = await dedupe.claim(1).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_BOT_UPDATE_IN_PROGRESS')).toBe(true);
    await dedupe.done(1);
    expect(await dedupe.claim(1)).toBe('done');
    expect(await dedupe.claim(2)).toBe('claimed');
    await dedupe.release(2); // the handler failed before answering
    expect(await dedupe.claim(2)).toBe('claimed');
  });

  it('falls back to memory when Redis does not answer, and says so', async () => {
    const failures: unknown[] = [];
    const down = {
      set: () => Promise.reject(new Error('connection refused')),
      get: () => Promise.reject(new Error('x')),
      del: () => Promise.reject(new Error('x')),
      pipeline: () => ({ set: () => undefined, exec: () => Promise.reject(new Error('connection refused')) }),
    };
    const dedupe = createResilientDedupe(down as never, 'p:', (error) => failures.push(error));
    expect(await dedupe.claim(5)).toBe('claimed');
    await dedupe.done(5);
    expect(await dedupe.claim(6)).toBe('claimed'); // its write, carrying 5's mark, failed
    expect(await dedupe.claim(5)).toBe('done'); // the mark waits in memory
    expect(failures.length).toBeGreaterThanOrEqual(3);
    await dedupe.close();
  });

  it('a done mark Redis did not take goes with a later claim once Redis answers', async () => {
    let up = true;
    const written: string[] = [];
    const redis = {
      set: async () => {
        if (!up) throw new Error('connection refused');
        return 'OK';
      },
      pipeline() {
        const sets: string[][] = [];
        return {
          set: (...args: string[]) => void sets.push(args),
          exec: async () => {
            if (!up) throw new Error('connection refused');
            for (const [key, value] of sets) if (value === 'done') written.push(key ?? '');
            return sets.map(() => [null, 'OK']);
          },
        };
      },
    };
    const failures: unknown[] = [];
    const dedupe = createResilientDedupe(redis as never, 'p:', (error) => failures.push(error));
    expect(await dedupe.claim(1)).toBe('claimed');
    await dedupe.done(1);
    up = false;
    expect(await dedupe.claim(2)).toBe('claimed'); // by memory; 1's mark not written
    expect(written).toEqual([]);
    expect(failures.length).toBeGreaterThan(0);
    up = true;
    expect(await dedupe.claim(3)).toBe('claimed');
    expect(written).toEqual(['p:update:1']);
    await dedupe.close();
  });

  it('a backlog of done marks drains a bounded number per write', async () => {
    const writes: number[] = [];
    const redis = {
      set: async () => 'OK',
      pipeline() {
        let n = 0;
        return {
          set: () => void n++,
          exec: async () => {
            writes.push(n);
            return Array.from({ length: n }, () => [null, 'OK']);
          },
        };
      },
    };
    const dedupe = createRedisDedupe(redis as never, 'p:');
    for (let id = 1; id <= 600; id++) await dedupe.done(id); // e.g. handled while Redis was away
    expect(await dedupe.claim(1_000)).toBe('claimed');
    expect(writes).toEqual([257]); // 256 marks and the claim
    expect(await dedupe.claim(600)).toBe('done'); // still waiting, still known here
    await dedupe.close();
    expect(writes).toEqual([257, 256, 88]);
  });
});
