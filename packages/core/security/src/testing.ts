// @diana/security/testing: the conformance suite of the rate-limit store port.
import { describe, expect, it } from 'vitest';
import type { RateLimitStore } from './rate-types.js';

/** What the suite needs: a store, and a way to let time pass for it (manual clock or real time). */
export interface RateLimitStoreSetup {
  readonly store: RateLimitStore;
  readonly advance: (ms: number) => Promise<void>;
}

let run = 0;
const uniqueKey = (name: string) => `${name}:${process.pid}:${Date.now()}:${run++}`;

/** The conformance suite of `RateLimitStore`. */
export function describeRateLimitStore(
  label: string,
  setup: () => RateLimitStoreSetup | Promise<RateLimitStoreSetup>,
): void {
  describe(`RateLimitStore conformance: ${label}`, () => {
    it('allows `limit` calls at once, counting down, then refuses with the wait until the next', async () => {
      const { store } = await setup();
      const key = uniqueKey('burst');
      const policy = { limit: 5, window_ms: 50_000 };
      const remaining: number[] = [];
      for (let i = 0; i < 5; i++) {
        const decision = await store.consume(key, policy, 1);
        expect(decision.allowed).toBe(true);
        remaining.push(decision.remaining);
      }
      expect(remaining).toEqual([4, 3, 2, 1, 0]);
      const refused = await store.consume(key, policy, 1);
      expect(refused).toMatchObject({ allowed: false, remaining: 0 });
      // one call comes back every window / limit = 10 s (less the time the six calls took: up to
      // 2.5 s on a busy machine)
      expect(refused.retry_after_ms).toBeGreaterThan(7_500);
      expect(refused.retry_after_ms).toBeLessThanOrEqual(10_000);
    });

    it('lets a call through again once the wait has passed, and keeps keys apart', async () => {
      const { store, advance } = await setup();
      const [a, b] = [uniqueKey('a'), uniqueKey('b')];
      // a call comes back every 3 s: the last two calls below are refused unless 3 s pass between
      // them (every 1 s, as it was, let a busy machine's stall of 1 s refill it)
      const policy = { limit: 2, window_ms: 6_000 };
      expect((await store.consume(a, policy, 2)).allowed).toBe(true);
      const refused = await store.consume(a, policy, 1);
      expect(refused.allowed).toBe(false);
      expect((await store.consume(b, policy, 1)).allowed).toBe(true); // another key
      await advance(refused.retry_after_ms + 20);
      expect((await store.consume(a, policy, 1)).allowed).toBe(true);
      expect((await store.consume(a, policy, 1)).allowed).toBe(false);
    });

    it('10 000 concurrent calls against a limit of 100 → exactly 100 allowed', async () => {
      const { store } = await setup();
      const key = uniqueKey('storm');
      const policy = { limit: 100, window_ms: 3_600_000 };
      let open!: () => void;
      const gate = new Promise<void>((resolve) => {
        open = resolve;
      });
      const calls = Array.from({ length: 10_000 }, async () => {
        await gate;
        return store.consume(key, policy, 1);
      });
      open();
      const decisions = await Promise.all(calls);
      expect(decisions.filter((d) => d.allowed)).toHaveLength(100);
      expect(decisions.filter((d) => !d.allowed).every((d) => d.retry_after_ms > 0)).toBe(true);
    });

    it('never allows a cost above what is left', async () => {
      const { store } = await setup();
      const key = uniqueKey('cost');
      const policy = { limit: 10, window_ms: 60_000 };
      expect((await store.consume(key, policy, 7)).remaining).toBe(3);
      expect((await store.consume(key, policy, 4)).allowed).toBe(false);
      expect((await store.consume(key, policy, 3)).allowed).toBe(true);
    });
  });
}
