import { createManualClock, isDianaError } from '@diana/utils';
import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { createCache } from '../src/cache.js';
import { deserialize, jitteredTtl, serialize } from '../src/entry.js';

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const until = async (check: () => boolean | Promise<boolean>) => {
  const deadline = Date.now() + 5_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await wait(2);
  }
};

describe('createCache (in-process tier)', () => {
  it('runs the factory once for 1 000 concurrent misses released together', async () => {
    const cache = createCache();
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
    const cache = createCache({ ttl_jitter: 0 }, { clock });
    await cache.set('k', 1, { ttl_ms: 1_000 });
    expect(await cache.get('k')).toBe(1);
    clock.advance(999);
    expect(await cache.get('k')).toBe(1);
    clock.advance(1);
    expect(await cache.get('k')).toBeUndefined();
  });

  it('serves a stale value within grace while one refresh runs, and again while the factory fails', async () => {
    const clock = createManualClock(0);
    const cache = createCache({ ttl_jitter: 0 }, { clock });
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
    await until(async () => (await cache.get('g')) === 'v2');
    expect(calls).toBe(2); // one background refresh for three stale reads

    clock.advance(150);
    failing = true;
    expect(await cache.getOrSet('g', factory, opts)).toBe('v2'); // refresh fails in the background
    await until(() => cache.stats().factory_errors === 1);
    clock.advance(500);
    expect(await cache.getOrSet('g', factory, opts)).toBe('v2'); // still within grace
    await until(() => cache.stats().factory_errors === 2);
    clock.advance(1_000); // grace over
    const error = await cache.getOrSet('g', factory, opts).catch((e: unknown) => e);
    expect(isDianaError(error, 'E_FACTORY_FAILED')).toBe(true);
    expect((error as Error).cause).toBeInstanceOf(Error);
    expect(cache.stats().stale_served).toBeGreaterThanOrEqual(5);
  });

  it('treats a stored value that no longer matches its schema as a miss, and counts it', async () => {
    const cache = createCache();
    await cache.set('profile', { name: 'Ana' });
    const Profile = v.object({ name: v.string(), level: v.number() });
    const value = await cache.getOrSet('profile', () => ({ name: 'Ana', level: 2 }), { schema: Profile });
    expect(value).toEqual({ name: 'Ana', level: 2 });
    expect(cache.stats().schema_misses).toBe(1);
    expect(await cache.get('profile', { schema: Profile })).toEqual({ name: 'Ana', level: 2 });
  });

  it('invalidates by key, by tag and by namespace, each only its own', async () => {
    const cache = createCache();
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

  it('stays within its entry and byte bounds', async () => {
    const byCount = createCache({ l1_max_entries: 100 });
    for (let i = 0; i < 1_000; i++) await byCount.set(`k${i}`, i);
    expect(byCount.stats().l1_entries).toBe(100);
    expect(byCount.stats().l1_evictions).toBe(900);
    expect(await byCount.get('k999')).toBe(999);
    expect(await byCount.get('k0')).toBeUndefined();

    const byBytes = createCache({ l1_max_bytes: 64 * 1024 });
    for (let i = 0; i < 1_000; i++) await byBytes.set(`k${i}`, 'x'.repeat(1_000));
    expect(byBytes.stats().l1_bytes).toBeLessThanOrEqual(64 * 1024);
    expect(byBytes.stats().l1_entries).toBeLessThan(70);
  });

  it('keeps Dates, BigInts and Maps through serialization, and spreads TTLs', () => {
    const value = { at: new Date(0), big: 2n ** 70n, map: new Map([['a', 1]]) };
    expect(deserialize(serialize(value))).toEqual(value);
    const ttls = Array.from({ length: 200 }, (_, i) => jitteredTtl(1_000, 0.1, () => i / 199));
    expect(Math.min(...ttls)).toBe(900);
    expect(Math.max(...ttls)).toBe(1_100);
    expect(jitteredTtl(1_000, 0)).toBe(1_000);
  });
});
