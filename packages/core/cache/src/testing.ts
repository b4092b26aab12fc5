// @diana/cache/testing: the conformance suite. It is the definition of the cache's semantics;
// the in-process mode and the two-tier mode on Redis both run it. Needs vitest.
import { type Clock, createManualClock, isDianaError, type ValidationError } from '@diana/utils';
import * as v from 'valibot';
import { afterAll, describe, expect, it } from 'vitest';
import type { CacheService } from './cache.js';
import type { CacheConfigInput } from './config.js';

/**
 * Makes a fresh cache (its own key prefix) for one test; it may resolve once the cache is
 * connected (a shared tier's first command waits for its connection at most the command timeout).
 */
export type CacheFactory = (
  config?: CacheConfigInput,
  deps?: { clock?: Clock },
) => CacheService | Promise<CacheService>;

/** Resolves once `cache` hears invalidations (`stats().listening`); throws after `ms`. */
export async function untilListening(cache: CacheService, ms = 5_000): Promise<CacheService> {
  const deadline = Date.now() + ms;
  while (!cache.stats().listening) {
    if (Date.now() > deadline) throw new Error(`the cache did not listen for invalidations within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
  return cache;
}

/** Runs the conformance suite against caches made by `create`. */
export function describeCache(label: string, create: CacheFactory): void {
  const made: CacheService[] = [];
  afterAll(async () => {
    await Promise.all(made.map((cache) => cache.close()));
  });
  const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  const until = async (check: () => boolean | Promise<boolean>, what = 'condition') => {
    const deadline = Date.now() + 5_000;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`${what}: not met in time`);
      await wait(2);
    }
  };
  // each case starts once its cache hears invalidations (until then it keeps no memory copies,
  // and the cases count memory hits)
  const make = async (...args: Parameters<CacheFactory>) => {
    const cache = await create(...args);
    made.push(cache);
    return untilListening(cache);
  };

  describe(`cache conformance: ${label}`, () => {
    it('runs the factory once for 1 000 concurrent misses released together', async () => {
      const cache = await make();
      let calls = 0;
      let arrived = 0;
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const results = await Promise.all(
        Array.from({ length: 1_000 }, async () => {
          if (++arrived === 1_000) release();
          await gate;
          return cache.getOrSet('user:1', async () => {
            calls++;
            await wait(5);
            return { name: 'Ana' };
          });
        }),
      );
      expect(calls).toBe(1);
      expect(results.every((r) => r.name === 'Ana')).toBe(true);
      expect(cache.stats()).toMatchObject({ factory_calls: 1, misses: 1000 });
    });

    it('expires entries after their TTL', async () => {
      const clock = createManualClock(1_000_000);
      const cache = await make({ ttl_jitter: 0 }, { clock });
      await cache.set('k', 1, { ttl_ms: 1_000 });
      expect(await cache.get('k')).toBe(1);
      clock.advance(999);
      expect(await cache.get('k')).toBe(1);
      clock.advance(1);
      expect(await cache.get('k')).toBeUndefined();
    });

    it('serves a stale value within grace while one refresh runs, and again while the factory fails', async () => {
      const clock = createManualClock(0);
      const cache = await make({ ttl_jitter: 0 }, { clock });
      let version = 1;
      let failing = false;
      let calls = 0;
      const factory = async () => {
        calls++;
        await wait(5);
        if (failing) throw new Error('source down');
        return `v${version}`;
      };
      const opts = { ttl_ms: 100, grace_ms: 1_000 };
      expect(await cache.getOrSet('g', factory, opts)).toBe('v1');
      clock.advance(150); // expired, within grace
      version = 2;
      const stale = await Promise.all([1, 2, 3].map(() => cache.getOrSet('g', factory, opts)));
      expect(stale).toEqual(['v1', 'v1', 'v1']);
      await until(async () => (await cache.get('g')) === 'v2', 'refreshed value visible');
      await until(() => cache.stats().in_flight === 0, 'refresh finished');
      expect(calls).toBe(2); // one background refresh for three stale reads

      clock.advance(150);
      failing = true;
      expect(await cache.getOrSet('g', factory, opts)).toBe('v2'); // refresh fails in the background
      await until(() => cache.stats().factory_errors === 1 && cache.stats().in_flight === 0, 'first failed refresh');
      clock.advance(500);
      expect(await cache.getOrSet('g', factory, opts)).toBe('v2'); // still within grace
      await until(() => cache.stats().factory_errors === 2 && cache.stats().in_flight === 0, 'second failed refresh');
      clock.advance(1_000); // grace over
      const error = await cache.getOrSet('g', factory, opts).catch((e: unknown) => e);
      expect(isDianaError(error, 'E_CACHE_FACTORY_FAILED')).toBe(true);
      expect((error as Error).cause).toBeInstanceOf(Error);
      expect(cache.stats().stale_served).toBeGreaterThanOrEqual(5);
    });

    it('treats a stored value that no longer matches its schema as a miss, and counts it', async () => {
      const cache = await make();
      await cache.set('profile', { name: 'Ana' });
      const Profile = v.object({ name: v.string(), level: v.number() });
      const value = await cache.getOrSet('profile', () => ({ name: 'Ana', level: 2 }), { schema: Profile });
      expect(value).toEqual({ name: 'Ana', level: 2 });
      expect(cache.stats().schema_misses).toBe(1);
      expect(await cache.get('profile', { schema: Profile })).toEqual({ name: 'Ana', level: 2 });
    });

    it("refuses a factory value that fails the call's schema with E_CACHE_SCHEMA, storing nothing", async () => {
      const cache = await make();
      const Counter = v.object({ n: v.number() });
      const bad = () => ({ n: 'not a number' }) as unknown as { n: number };
      const error = await cache.getOrSet('counter', bad, { schema: Counter }).catch((e: unknown) => e);
      expect(isDianaError(error, 'E_CACHE_SCHEMA')).toBe(true);
      expect((error as ValidationError<'E_CACHE_SCHEMA'>).issues.map((issue) => issue.path)).toEqual(['n']);
      expect(JSON.stringify(error)).not.toContain('not a number'); // the value is not repeated
      // Neither tier holds it: get (no schema) looks in memory, then in Redis.
      expect(cache.stats()).toMatchObject({ l1_entries: 0, factory_calls: 1, factory_errors: 1 });
      expect(await cache.get('counter')).toBeUndefined();
      expect(cache.stats().l2_hits).toBe(0);
      // Nothing half-done either: the next call runs the factory again and its good value sticks.
      expect(await cache.getOrSet('counter', () => ({ n: 1 }), { schema: Counter })).toEqual({ n: 1 });
      expect(await cache.get('counter', { schema: Counter })).toEqual({ n: 1 });
      expect(cache.stats()).toMatchObject({ factory_calls: 2, in_flight: 0 });
    });

    it('refuses ttl_ms, grace_ms or tags it could not store with E_CACHE_CONFIG, storing nothing', async () => {
      const cache = await make();
      const bad = [
        { ttl_ms: 1_000 / 3 },
        { ttl_ms: Number.NaN },
        { ttl_ms: Number.POSITIVE_INFINITY },
        { ttl_ms: 0 },
        { grace_ms: 0.5 },
        { grace_ms: -1 },
        { tags: [''] },
        { tags: ['x'.repeat(100_000)] },
      ];
      let calls = 0;
      for (const [i, options] of bad.entries()) {
        const set = await cache.set(`k${i}`, 1, options).catch((e: unknown) => e);
        expect(isDianaError(set, 'E_CACHE_CONFIG'), JSON.stringify(options)).toBe(true);
        const filled = await cache.getOrSet(`k${i}`, () => ++calls, options).catch((e: unknown) => e);
        expect(isDianaError(filled, 'E_CACHE_CONFIG'), JSON.stringify(options)).toBe(true);
        expect(await cache.get(`k${i}`)).toBeUndefined();
      }
      expect(calls).toBe(0);
      // nothing reached the shared tier: no refused write counted as a failure of it
      expect(cache.stats()).toMatchObject({ l2_failures: 0, breaker_open: false, l1_entries: 0 });
    });

    it('a fill does not overwrite a set, delete or deleteByTag made while its factory ran', async () => {
      const cache = await make();
      const race = async (key: string, change: () => Promise<void>) => {
        let release!: () => void;
        const gate = new Promise<void>((resolve) => {
          release = resolve;
        });
        let started = false;
        const filling = cache.getOrSet(
          key,
          async () => {
            started = true;
            await gate;
            return 'old';
          },
          { tags: ['t'] },
        );
        await until(() => started, 'factory started');
        await change();
        release();
        expect(await filling).toBe('old');
      };
      await race('set', () => cache.set('set', 'new'));
      expect(await cache.get('set')).toBe('new');
      await race('delete', () => cache.delete('delete'));
      expect(await cache.get('delete')).toBeUndefined();
      await race('tagged', () => cache.deleteByTag('t'));
      expect(await cache.get('tagged')).toBeUndefined();
    });

    it("does not hand a caller with a schema a running factory's value that fails it", async () => {
      const cache = await make();
      const Named = v.object({ name: v.string() });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const legacy = cache.getOrSet('user:1', async () => {
        await gate;
        return { name: 42 } as unknown as { name: string };
      });
      const typed = cache.getOrSet('user:1', () => ({ name: 'Ana' }), { schema: Named });
      release();
      expect(await legacy).toEqual({ name: 42 });
      expect(await typed).toEqual({ name: 'Ana' }); // its own factory's, checked
      expect(cache.stats()).toMatchObject({ factory_calls: 2, schema_misses: 1 });
    });

    it("a caller that joins a run its caller's schema refused runs its own factory, unless it has that schema", async () => {
      const cache = await make();
      const Named = v.object({ name: v.string() });
      const Other = v.object({ name: v.number() });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      let calls = 0;
      const bad = async () => {
        calls++;
        await gate;
        return { name: 42 } as unknown as { name: string };
      };
      const typed = cache.getOrSet('user:2', bad, { schema: Named }).catch((e: unknown) => e);
      const sameSchema = cache.getOrSet('user:2', bad, { schema: Named }).catch((e: unknown) => e);
      const plain = cache.getOrSet('user:2', () => ({ name: 'plain' }));
      const otherSchema = cache.getOrSet('user:2', () => ({ name: 7 }), { schema: Other });
      release();
      expect(await typed).toMatchObject({ code: 'E_CACHE_SCHEMA' });
      expect(await sameSchema).toMatchObject({ code: 'E_CACHE_SCHEMA' }); // the same refusal, no second run
      expect(calls).toBe(1);
      expect(await plain).toEqual({ name: 'plain' }); // its own factory's
      const other = await otherSchema;
      // its own run, or the plain caller's run it joined (whose value then failed Other: its own again)
      expect(other).toEqual({ name: 7 });
    });

    it('keeps serving the stale value when a background refresh returns a value that fails the schema', async () => {
      const clock = createManualClock(0);
      const cache = await make({ ttl_jitter: 0 }, { clock });
      const Counter = v.object({ n: v.number() });
      const opts = { ttl_ms: 100, grace_ms: 1_000, schema: Counter };
      expect(await cache.getOrSet('c', () => ({ n: 1 }), opts)).toEqual({ n: 1 });
      clock.advance(150); // expired, within grace
      const bad = () => ({ n: 'not a number' }) as unknown as { n: number };
      expect(await cache.getOrSet('c', bad, opts)).toEqual({ n: 1 });
      await until(() => cache.stats().factory_errors === 1 && cache.stats().in_flight === 0, 'refused refresh');
      // Had the refresh been stored, this read would be a fresh hit on { n: 'not a number' }.
      expect(await cache.getOrSet('c', bad, opts)).toEqual({ n: 1 });
      expect(cache.stats().stale_served).toBe(2);
    });

    it('invalidates by key, by tag and by namespace, each only its own', async () => {
      const cache = await make();
      const balances = cache.namespace('balances');
      const menus = cache.namespace('menus');
      await balances.set('u1', 10, { tags: ['user:1'] });
      await balances.set('u2', 20, { tags: ['user:2'] });
      await menus.set('u1', 'main', { tags: ['user:1'] });
      await cache.set('root', true);

      await balances.deleteByTag('user:1');
      expect(await balances.get('u1')).toBeUndefined();
      expect(await menus.get('u1')).toBe('main');
      expect(await balances.get('u2')).toBe(20);

      await balances.clear();
      expect(await balances.get('u2')).toBeUndefined();
      expect(await menus.get('u1')).toBe('main');
      expect(await cache.get('root')).toBe(true);

      await menus.delete('u1');
      expect(await menus.get('u1')).toBeUndefined();
      expect(await balances.namespace('x').get('y')).toBeUndefined();
      const bad = await cache.get('').catch((e: unknown) => e);
      expect(isDianaError(bad, 'E_CACHE_CONFIG')).toBe(true);
    });

    it('refuses every call after close() with E_CACHE_CLOSED; stats() and a second close() still answer', async () => {
      const cache = await make();
      await cache.set('k', 1);
      const scoped = cache.namespace('n');
      await cache.close();
      let factoryCalls = 0;
      const calls: Array<() => Promise<unknown>> = [
        () => cache.get('k'),
        () => cache.set('k', 2),
        () => cache.getOrSet('k', () => ++factoryCalls),
        () => cache.delete('k'),
        () => cache.deleteByTag('t'),
        () => cache.clear(),
        () => scoped.get('k'),
        () => cache.namespace('m').set('k', 3),
      ];
      for (const call of calls) {
        const error = await call().catch((e: unknown) => e);
        expect(isDianaError(error, 'E_CACHE_CLOSED'), String(error)).toBe(true);
      }
      expect(factoryCalls).toBe(0);
      expect(cache.stats().l1_entries).toBe(0);
      await cache.close();
    });

    it('stays within its entry and byte bounds', async () => {
      const byCount = await make({ l1_max_entries: 100 });
      for (let i = 0; i < 1_000; i++) await byCount.set(`k${i}`, i);
      expect(byCount.stats().l1_entries).toBe(100);
      expect(byCount.stats().l1_evictions).toBe(900);
      expect(await byCount.get('k999')).toBe(999);

      const byBytes = await make({ l1_max_bytes: 64 * 1024 });
      for (let i = 0; i < 1_000; i++) await byBytes.set(`k${i}`, 'x'.repeat(1_000));
      expect(byBytes.stats().l1_bytes).toBeLessThanOrEqual(64 * 1024);
      expect(byBytes.stats().l1_entries).toBeLessThan(70);
      // 2 000 writes one after another: 5–9 s on CI's Redis Cluster, over 30 s once under its load
    }, 90_000);
  });
}
