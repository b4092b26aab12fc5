import { useTestMeter } from '@diana/test-services';
import { expect, it } from 'vitest';
import { createCache } from '../src/cache.js';

const meter = useTestMeter();

it('records hits by tier, misses, factory calls and the in-process size on the OpenTelemetry meter', async () => {
  const cache = createCache();
  await cache.getOrSet('a', () => 1);
  await cache.getOrSet('a', () => 1);
  await cache.getOrSet('a', () => 1);
  const collected = await meter.collect();
  expect(collected.sum('diana.cache.hits', { tier: 'l1' })).toBe(2);
  expect(collected.sum('diana.cache.misses')).toBe(1);
  expect(collected.sum('diana.cache.factory.calls')).toBe(1);
  expect(collected.sum('diana.cache.l1.entries')).toBe(1);
  expect(collected.points('diana.cache.breaker_open')).toHaveLength(1); // reported, and closed
  expect(collected.sum('diana.cache.breaker_open')).toBe(0);
  expect(collected.sum('diana.cache.listening')).toBe(1); // no shared tier: nothing to miss
  expect(cache.stats()).toMatchObject({ l1_hits: 2, misses: 1, factory_calls: 1 });
  await cache.close();
});
