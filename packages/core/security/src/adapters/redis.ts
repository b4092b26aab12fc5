// @diana/security/adapters/redis: the rate-limit store shared by every process.
import { quitWithin, type RedisConnector } from '@diana/redis';
import { createEventWaiter, getPackageLogger, type Logger } from '@diana/utils';
import type { Redis } from 'ioredis';
import type { SecurityConfigInput } from '../config.js';
import { readLua } from '../lua.js';
import { intervalMicros, type RateLimitStore } from '../rate-types.js';
import { parseSecurityConfig } from '../settings.js';

interface Scripts {
  gcra(key: string, interval: number, limit: number, cost: number): Promise<[number, number, number]>;
}

/** The Redis store: its own connection from the connector, failing fast (no offline queue, a time limit). */
export interface RedisRateLimitStore extends RateLimitStore {
  close(options?: { readonly timeout_ms?: number }): Promise<void>;
}

/** What `createRedisRateLimitStore` needs besides its config. */
export interface RedisRateLimitStoreDeps {
  /** Hands out the store's command client (the app's one connector; never closed here). */
  readonly connector: RedisConnector;
  readonly logger?: Logger;
}

/**
 * GCRA in one Lua script per decision, on Redis's clock (so processes with skewed clocks
 * agree). While the first connection is being made a call waits for it up to `timeout_ms`;
 * after that, a call while Redis is down fails at once, and the limiter's insurance answers.
 * Keys are `rate_limit_prefix` + action + key; `rate_limit_timeout_ms` limits each call (the
 * same `security` config section the limiter reads).
 */
export function createRedisRateLimitStore(
  config: SecurityConfigInput,
  deps: RedisRateLimitStoreDeps,
): RedisRateLimitStore {
  const settings = parseSecurityConfig(config);
  const options = { prefix: settings.rate_limit_prefix, timeout_ms: settings.rate_limit_timeout_ms };
  const logger = getPackageLogger(deps.logger, 'security');
  const client = deps.connector.command({ command_timeout_ms: options.timeout_ms, name: 'rate-limit' }) as Redis &
    Scripts;
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
    close: ({ timeout_ms = 1_000 } = {}) => quitWithin(client, timeout_ms),
  };
}
