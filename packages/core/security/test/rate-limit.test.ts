import { captureLogLines } from '@diana/test-services';
import { createLogger, createManualClock, isDianaError } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { createMemoryRateLimitStore } from '../src/adapters/memory.js';
import { createRateLimiter } from '../src/rate-limit.js';
import type { RateLimitStore } from '../src/rate-types.js';
import { describeRateLimitStore } from '../src/testing.js';

describeRateLimitStore('memory', () => {
  const clock = createManualClock(1_700_000_000_000);
  return { store: createMemoryRateLimitStore({ clock }), advance: async (ms) => clock.advance(ms) };
});

// The owners' policies: trivia 20/hour, purchases 10/minute, bids 1 per 5 s.
const POLICIES: Record<string, { limit: number; window_ms: number }> = {
  trivia: { limit: 20, window_ms: 3_600_000 },
  purchase: { limit: 10, window_ms: 60_000 },
  bid: { limit: 1, window_ms: 5_000 },
};

describe('createRateLimiter (memory)', () => {
  it("applies each action's policy per user", async () => {
    const clock = createManualClock(1_700_000_000_000);
    const limiter = createRateLimiter({}, { getPolicy: (action) => POLICIES[action], clock });
    expect((await limiter.consume(7, 'bid')).allowed).toBe(true);
    const second = await limiter.consume(7, 'bid');
    expect(second).toMatchObject({ allowed: false, limit: 1, degraded: false });
    expect(second.retry_after_ms).toBe(5_000);
    expect((await limiter.consume(8, 'bid')).allowed).toBe(true); // another user
    let allowed = 0;
    for (let i = 0; i < 30; i++) if ((await limiter.consume(7, 'trivia')).allowed) allowed++;
    expect(allowed).toBe(20);
    clock.advance(5_000);
    expect((await limiter.consume(7, 'bid')).allowed).toBe(true);
    const error = await limiter.enforce(7, 'bid').catch((e: unknown) => e);
    expect(isDianaError(error, 'E_SECURITY_RATE_LIMITED')).toBe(true);
    expect((error as { context: { retry_after_ms: number } }).context.retry_after_ms).toBe(5_000);
  });

  it('refuses unknown actions, bad keys and costs with E_SECURITY_CONFIG', async () => {
    const limiter = createRateLimiter({}, { getPolicy: (action) => POLICIES[action] });
    for (const call of [
      () => limiter.consume(1, 'unknown'),
      () => limiter.consume('a b', 'bid'),
      () => limiter.consume(1, 'trivia', { cost: 21 }),
      () => limiter.consume(1, 'trivia', { cost: 0 }),
    ]) {
      expect(isDianaError(await call().catch((e: unknown) => e), 'E_SECURITY_CONFIG')).toBe(true);
    }
  });

  it('falls back to the insurance limiter when the store fails: still limits, never throws', async () => {
    let failing = true;
    const inner = createMemoryRateLimitStore();
    const flaky: RateLimitStore = {
      name: 'flaky',
      consume: (key, policy, cost) =>
        failing ? Promise.reject(new Error('store down')) : inner.consume(key, policy, cost),
    };
    const limiter = createRateLimiter(
      { insurance_share: 0.5 },
      { getPolicy: (action) => POLICIES[action], store: flaky },
    );
    const results = [];
    for (let i = 0; i < 12; i++) results.push(await limiter.consume(9, 'purchase'));
    expect(results.every((r) => r.degraded)).toBe(true); // the fault happened
    expect(results.filter((r) => r.allowed)).toHaveLength(5); // half of 10 in this process
    failing = false;
    expect(await limiter.consume(9, 'purchase')).toMatchObject({ allowed: true, degraded: false });
  });

  it('says so once per outage, even when failures and answers come by turns (a cluster master down)', async () => {
    const clock = createManualClock(1_700_000_000_000);
    const { destination, lines } = captureLogLines();
    let calls = 0;
    const inner = createMemoryRateLimitStore({ clock });
    const halfDown: RateLimitStore = {
      name: 'half-down',
      consume: (key, policy, cost) =>
        calls++ % 2 === 0 ? Promise.reject(new Error('master down')) : inner.consume(key, policy, cost),
    };
    const limiter = createRateLimiter(
      {},
      {
        getPolicy: (action) => POLICIES[action],
        store: halfDown,
        clock,
        logger: createLogger({ level: 'info', destination }),
      },
    );
    const results = [];
    for (let i = 0; i < 20; i++) {
      results.push(await limiter.consume(i, 'purchase'));
      clock.advance(100);
    }
    expect(results.filter((r) => r.degraded)).toHaveLength(10); // the fault happened, by turns
    expect(lines.map((l) => l.msg)).toEqual([
      'rate limiter: Redis unavailable, the in-memory insurance limiter decides',
    ]);
    // answers for 5 s after the last failure: the outage is over
    calls = 1;
    clock.advance(5_000);
    await limiter.consume(99, 'purchase');
    expect(lines.slice(1)).toMatchObject([{ level: 'info', msg: 'rate limiter: Redis answers again', failures: 10 }]);
  });
});
