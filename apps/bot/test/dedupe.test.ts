import { isDianaError } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { createMemoryDedupe, createResilientDedupe } from '../src/dedupe.js';

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
    };
    const dedupe = createResilientDedupe(down as never, 'p:', (error) => failures.push(error));
    expect(await dedupe.claim(5)).toBe('claimed');
    await dedupe.done(5);
    expect(await dedupe.claim(5)).toBe('done');
    expect(failures.length).toBeGreaterThanOrEqual(3);
  });
});
