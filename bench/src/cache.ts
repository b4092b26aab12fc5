// pnpm bench:cache — our two-tier cache against bentocache (L1 memory + L2 on the same Redis,
// L1 returning references like ours) and cache-manager with a Redis Keyv store; 1 KB values.
import { randomBytes } from 'node:crypto';
import { type CacheService, createCache } from '@diana/cache';
import { createRedisCacheStore } from '@diana/cache/adapters/redis';
import { createRedisConnector } from '@diana/redis';
import { deleteByPrefix, getRedisUrl } from '@diana/test-services';
import KeyvRedis from '@keyv/redis';
import { BentoCache, bentostore } from 'bentocache';
import { memoryDriver } from 'bentocache/drivers/memory';
import { redisBusDriver, redisDriver } from 'bentocache/drivers/redis';
import { createCache as createCacheManager } from 'cache-manager';
import Keyv from 'keyv';
import { compare, getPeakRssMb, printGoal, ratio } from './harness.js';

const url = await getRedisUrl();
const { hostname: host, port: portText } = new URL(url);
const port = Number(portText);
const connector = createRedisConnector({ options: { host, port } });
const run = randomBytes(3).toString('hex');
const prefix = `bench:cache:${run}:`;
const value = (i: number) => ({ id: i, text: 'x'.repeat(1_000) });
const out = (line: string) => process.stdout.write(`${line}\n`);

// Every instance made here, closed at the end (the L2 round makes a fresh reader per round).
const opened: Array<{ close?: () => Promise<void>; disconnect?: () => Promise<void> }> = [];
const track = <T extends { close?: () => Promise<void>; disconnect?: () => Promise<void> }>(instance: T): T => {
  opened.push(instance);
  return instance;
};
const oursNow = (name: string, extra: { redis_batch_max?: number } = {}) => {
  const config = { key_prefix: `${prefix}${name}:`, l1_max_entries: 100_000, ...extra };
  return track(createCache(config, { store: createRedisCacheStore(config, { connector }) }));
};
// once it hears invalidations: until then our cache keeps no memory copy of what it reads
const ours = async (name: string, extra: { redis_batch_max?: number } = {}) => {
  const cache = oursNow(name, extra);
  const deadline = Date.now() + 5_000;
  while (!cache.stats().listening) {
    if (Date.now() > deadline) throw new Error('the cache did not subscribe to its invalidations within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return cache;
};
const bento = (name: string) =>
  track(
    new BentoCache({
      default: 'multi',
      stores: {
        multi: bentostore()
          .useL1Layer(memoryDriver({ maxItems: 100_000, serialize: false }))
          .useL2Layer(redisDriver({ connection: { host, port }, prefix: `${prefix}bento-${name}` }))
          .useBus(redisBusDriver({ connection: { host, port } })),
      },
    }),
  );
const manager = (name: string) =>
  createCacheManager({ stores: [new Keyv({ store: new KeyvRedis(url), namespace: `${prefix}cm-${name}` })] });

const a = await ours('hot');
const b = bento('hot');
const m = manager('hot');
try {
  for (let i = 0; i < 1_000; i++) {
    await a.set(`k${i}`, value(i), { ttl_ms: 600_000 });
    await b.set({ key: `k${i}`, value: value(i), ttl: 600_000 });
    await m.set(`k${i}`, value(i), 600_000);
  }

  const get = await compare({
    title: 'get, L1 hit (1 KB values, 1 000 hot keys)',
    concurrency: 1,
    ops: 200_000,
    variants: [
      { name: 'ours', op: (i) => a.get(`k${i % 1_000}`) },
      { name: 'bentocache', op: (i) => b.get({ key: `k${i % 1_000}` }) },
    ],
  });
  const getOrSet = await compare({
    title: 'getOrSet, L1 hit',
    concurrency: 1,
    ops: 200_000,
    variants: [
      { name: 'ours', op: (i) => a.getOrSet(`k${i % 1_000}`, () => value(i)) },
      { name: 'bentocache', op: (i) => b.getOrSet({ key: `k${i % 1_000}`, factory: () => value(i) }) },
    ],
  });
  const managerGet = await compare({
    title: 'get through cache-manager (every read goes to Redis) vs ours (L1)',
    concurrency: 32,
    ops: 20_000,
    variants: [
      { name: 'ours', op: (i) => a.get(`k${i % 1_000}`) },
      { name: 'cache-manager', op: (i) => m.get(`k${i % 1_000}`) },
    ],
  });

  // L2 hit: a fresh instance reads keys another instance wrote (its L1 is cold for each key).
  const L2_KEYS = 20_000;
  const writerA = await ours('l2');
  const writerB = bento('l2');
  for (let i = 0; i < L2_KEYS; i++) {
    await writerA.set(`k${i}`, value(i), { ttl_ms: 600_000 });
    await writerB.set({ key: `k${i}`, value: value(i), ttl: 600_000 });
  }
  // A fresh reader of ours each round; the next round's is made (and listening) during this
  // round: a round must switch readers synchronously in its first call, or its other callers
  // would start on the warm one.
  const freshEachRound = async (extra: { redis_batch_max?: number } = {}) => {
    let round = 0;
    let reader = await ours('l2', extra);
    let spare: CacheService | undefined = await ours('l2', extra);
    return async (i: number) => {
      if (i === 0 && round++ > 0) {
        reader = spare ?? oursNow('l2', extra);
        spare = undefined;
        void ours('l2', extra).then((cache) => {
          spare = cache;
        });
      }
      return reader.get(`k${i}`);
    };
  };
  const readOurs = await freshEachRound();
  const readOursAlone = await freshEachRound({ redis_batch_max: 1 });
  let roundB = 0;
  let readerB = bento('l2');
  const l2 = await compare({
    title: 'get, L2 hit (L1 cold: each key read once per fresh instance)',
    concurrency: 32,
    ops: L2_KEYS,
    warmup: 1,
    variants: [
      { name: 'ours', op: readOurs },
      // each read its own GET (what a turn's reads cost without their MGET)
      { name: 'ours, redis_batch_max: 1', op: readOursAlone },
      {
        name: 'bentocache',
        op: async (i) => {
          if (i === 0 && roundB++ > 0) readerB = bento('l2');
          return readerB.get({ key: `k${i}` });
        },
      },
    ],
  });

  // Miss storm: 1 000 concurrent callers over 100 missing keys, a 10 ms factory.
  const storm = async (label: string, call: (key: string, factory: () => Promise<unknown>) => Promise<unknown>) => {
    let calls = 0;
    const factory = async () => {
      calls++;
      await new Promise((resolve) => setTimeout(resolve, 10));
      return value(1);
    };
    const started = performance.now();
    await Promise.all(Array.from({ length: 1_000 }, (_, i) => call(`storm:${run}:${label}:${i % 100}`, factory)));
    out(
      `  ${label.padEnd(28)} factory calls ${String(calls).padStart(4)}   wall ${(performance.now() - started).toFixed(0)} ms`,
    );
    return calls;
  };
  out('\nMiss storm: 1 000 concurrent callers, 100 missing keys, 10 ms factory');
  const stormOurs = await storm('ours', (key, f) => a.getOrSet(key, f));
  await storm('bentocache', (key, f) => b.getOrSet({ key, factory: f }));
  await storm('cache-manager (wrap)', (key, f) => m.wrap(key, f, 60_000));
  printGoal('ours: one factory call per key (100)', stormOurs === 100);

  out('');
  printGoal('L1 get ≥ 1.0× bentocache (goal 1.5×)', ratio(get, 'ours', 'bentocache') >= 1);
  printGoal('L1 getOrSet ≥ 1.0× bentocache', ratio(getOrSet, 'ours', 'bentocache') >= 1);
  printGoal('L2 hit ≥ bentocache', ratio(l2, 'ours', 'bentocache') >= 1);
  void managerGet;

  // Memory: 1 000 000 sets of random sizes into an in-process tier bounded to 64 MB.
  const bounded = createCache({ l1_max_bytes: 64 * 1024 * 1024, l1_max_entries: 1_000_000 });
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  for (let i = 0; i < 1_000_000; i++) await bounded.set(`m${i}`, 'y'.repeat(100 + Math.floor(Math.random() * 2_000)));
  global.gc?.();
  const heapGrowth = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
  const stats = bounded.stats();
  out(
    `\n1 000 000 sets of 100–2 100 byte strings, l1_max_bytes 64 MB: ${stats.l1_entries.toLocaleString('en-US')} entries kept, ${(stats.l1_bytes / 1024 / 1024).toFixed(1)} MB counted, heap growth after GC ${heapGrowth.toFixed(0)} MB${global.gc ? '' : ' (run with --expose-gc for an exact figure)'}`,
  );
  printGoal('heap within l1_max_bytes + 100% margin (UTF-16 strings, entry objects)', heapGrowth <= 128);
  out(`\npeak RSS ${getPeakRssMb().toFixed(0)} MB`);
  await bounded.close();
} finally {
  await Promise.all(opened.map((instance) => (instance.close ?? instance.disconnect)?.call(instance)));
  await m.disconnect();
  await deleteByPrefix(url, prefix);
}
