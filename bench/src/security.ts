// pnpm bench:security — our rate limiter (GCRA in Lua; the decisions of one event-loop turn in
// one script call, and beside it each decision its own call, `rate_limit_batch_max: 1`)
// against rate-limiter-flexible's RateLimiterRedis with an equivalent policy (10 calls per
// 60 s per key), same Redis, same ioredis options, 64 calls in flight, inMemoryBlockOnConsumed
// off; every key gets 20 calls, so half the calls are over the limit.
import { randomBytes } from 'node:crypto';
import { createRedisConnector } from '@diana/redis';
import { createRateLimiter } from '@diana/security';
import { createRedisRateLimitStore } from '@diana/security/adapters/redis';
import { deleteByPrefix, getRedisUrl } from '@diana/test-services';
import { Redis } from 'ioredis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { compare, getPeakRssMb, printGoal, ratio } from './harness.js';
import { measureServerCpu } from './server-cpu.js';

const url = await getRedisUrl();
const servers = measureServerCpu(Number(new URL(url).port || 6379));
const { hostname: host, port: portText } = new URL(url);
const redisOptions = { host, port: Number(portText), enableOfflineQueue: false };
const run = randomBytes(3).toString('hex');
const prefix = `bench:rl:${run}:`;
const out = (line: string) => process.stdout.write(`${line}\n`);

const ourConfig = { rate_limit_prefix: `${prefix}ours:` };
const ours = createRateLimiter(ourConfig, {
  store: createRedisRateLimitStore(ourConfig, { connector: createRedisConnector({ options: redisOptions }) }),
  getPolicy: () => ({ limit: 10, window_ms: 60_000 }),
});
const singleConfig = { rate_limit_prefix: `${prefix}single:`, rate_limit_batch_max: 1 };
const single = createRateLimiter(singleConfig, {
  store: createRedisRateLimitStore(singleConfig, { connector: createRedisConnector({ options: redisOptions }) }),
  getPolicy: () => ({ limit: 10, window_ms: 60_000 }),
});
const theirClient = new Redis(redisOptions);
await new Promise((resolve) => theirClient.once('ready', resolve));
const theirs = new RateLimiterRedis({
  storeClient: theirClient,
  keyPrefix: `${prefix}rlf`,
  points: 10,
  duration: 60,
  inMemoryBlockOnConsumed: 0,
});

// every key receives 20 calls: 10 allowed, 10 refused
let oursCalls = 0;
let singleCalls = 0;
let theirCalls = 0;
let oursAllowed = 0;
let theirAllowed = 0;
try {
  const results = await compare({
    servers,
    title: 'consume, 10 per 60 s per key, 20 calls per key (half over the limit)',
    concurrency: 64,
    ops: 20_000,
    variants: [
      {
        name: 'ours (GCRA, Lua)',
        op: async () => {
          const result = await ours.consume(`u${Math.floor(oursCalls++ / 20)}`, 'purchase');
          if (result.allowed) oursAllowed++;
        },
      },
      {
        name: 'ours, rate_limit_batch_max: 1',
        op: async () => {
          await single.consume(`u${Math.floor(singleCalls++ / 20)}`, 'purchase');
        },
      },
      {
        name: 'rate-limiter-flexible',
        op: async () => {
          try {
            await theirs.consume(`u${Math.floor(theirCalls++ / 20)}`);
            theirAllowed++;
          } catch (error) {
            if (!(error instanceof RateLimiterRes)) throw error;
          }
        },
      },
    ],
  });
  out(
    `  allowed: ours ${((oursAllowed / oursCalls) * 100).toFixed(1)}%, rate-limiter-flexible ${((theirAllowed / theirCalls) * 100).toFixed(1)}% of calls`,
  );
  const r = ratio(results, 'ours (GCRA, Lua)', 'rate-limiter-flexible');
  out(
    `  each decision its own call: ×${ratio(results, 'ours, rate_limit_batch_max: 1', 'rate-limiter-flexible').toFixed(2)} rate-limiter-flexible`,
  );
  const p99 = results.find((x) => x.name === 'ours (GCRA, Lua)')?.p99_ms ?? Number.NaN;
  out('');
  printGoal(`throughput ≥ 1.0× rate-limiter-flexible (goal 1.3×; measured ×${r.toFixed(2)})`, r >= 1);
  printGoal(`stretch 1.3×`, r >= 1.3);
  printGoal(`p99 ≤ 2 ms (measured ${p99.toFixed(2)} ms)`, p99 <= 2);
  out(`\npeak RSS ${getPeakRssMb().toFixed(0)} MB`);
} finally {
  await ours.close();
  await single.close();
  theirClient.disconnect();
  await deleteByPrefix(url, prefix);
}
