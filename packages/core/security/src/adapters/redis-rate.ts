import { createEventWaiter, getPackageLogger, type Logger } from '@diana/utils';
import { Redis, type RedisOptions } from 'ioredis';
import { readLua } from '../lua.js';
import { intervalMicros, type RateLimitStore } from '../rate-types.js';

interface Scripts {
  gcra(key: string, interval: number, limit: number, cost: number): Promise<[number, number, number]>;
}

/** The Redis store: its own connection, failing fast (no offline queue, a time limit). */
export interface RedisRateLimitStore extends RateLimitStore {
  close(): Promise<void>;
}

/**
 * GCRA in one Lua script per decision, on Redis's clock (so processes with skewed clocks
 * agree). While the first connection is being made a call waits for it up to `timeout_ms`;
 * after that, a call while Redis is down fails at once, and the limiter's insurance answers.
 */
export function createRedisRateLimitStore(options: {
  redis: Redis | RedisOptions;
  prefix: string;
  timeout_ms: number;
  logger?: Logger;
}): RedisRateLimitStore {
  const logger = getPackageLogger(options.logger, 'security');
  const base = options.redis instanceof Redis ? options.redis.options : options.redis;
  const client = new Redis({
    ...base,
    lazyConnect: false,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    commandTimeout: options.timeout_ms,
    retryStrategy: (times: number) => Math.min(times * 50, 1_000),
  }) as Redis & Scripts;
  client.on('error', (error) => logger.debug({ err: error }, 'rate-limit redis connection error'));
  client.defineCommand('gcra', { numberOfKeys: 1, lua: readLua('gcra') });
  let connectedOnce = false;
  client.once('ready', () => {
    connectedOnce = true;
  });
  const waitReady = createEventWaiter(client, 'ready', () => `redis not reachable (status ${client.status})`);

  return {
    name: 'redis',
    consume(key, policy, cost) {
      const run = () =>
        client
          .gcra(`${options.prefix}${key}`, intervalMicros(policy), policy.limit, cost)
          .then(([allowed, remaining, retryMicros]) => ({
            allowed: allowed === 1,
            remaining,
            retry_after_ms: Math.ceil(retryMicros / 1_000),
          }));
      if (client.status === 'ready') return run();
      if (connectedOnce) return Promise.reject(new Error(`redis is ${client.status}`));
      return waitReady(options.timeout_ms).then(run);
    },
    async close() {
      await client.quit().catch(() => client.disconnect());
    },
  };
}
