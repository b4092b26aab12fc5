// @diana/security/adapters/redis: the rate-limit store shared by every process.
import { quitWithin, type RedisClient, type RedisConnector } from '@diana/redis';
import { createEventWaiter, getPackageLogger, type Logger } from '@diana/utils';
import type { SecurityConfigInput } from '../config.js';
import { readLua } from '../lua.js';
import { intervalMicros, type RateLimitStore } from '../rate-types.js';
import { parseSecurityConfig } from '../settings.js';
import { createDecisionBatcher } from './redis-batch.js';

interface Scripts {
  gcra(key: string, interval: number, limit: number, cost: number): Promise<[number, number, number]>;
  gcraBatch(keyCount: number, ...keysAndArgs: Array<string | number>): Promise<number[]>;
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
 * GCRA in Lua, on Redis's clock (so processes with skewed clocks agree). The decisions asked
 * in one event-loop turn go as one script call (`lua/gcra-batch.lua`, up to
 * `rate_limit_batch_max`; 1 sends each alone through `lua/gcra.lua`): on one server, every
 * key of the turn in one call; on a Redis Cluster, one call per key (a call never holds keys
 * of two slots). No decision waits on a timer. While the first connection is being made a call waits for it up to `timeout_ms`;
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
  const client = deps.connector.command({ command_timeout_ms: options.timeout_ms, name: 'rate-limit' }) as RedisClient &
    Scripts;
  client.on('error', (error) => logger.debug({ err: error }, 'rate-limit redis connection error'));
  client.defineCommand('gcra', { numberOfKeys: 1, lua: readLua('gcra') });
  client.defineCommand('gcraBatch', { lua: readLua('gcra-batch') });
  // ioredis's Cluster says so; its one-server client does not
  const onCluster = (client as { isCluster?: boolean }).isCluster === true;
  const decide = createDecisionBatcher((keys, args) => client.gcraBatch(keys.length, ...keys, ...args), {
    max_batch: settings.rate_limit_batch_max,
    groupOf: (key) => (onCluster ? key : ''),
  });
  let connectedOnce = false;
  client.once('ready', () => {
    connectedOnce = true;
  });
  const waitReady = createEventWaiter(client, 'ready', () => `redis not reachable (status ${client.status})`);

  return {
    name: 'redis',
    consume(key, policy, cost) {
      const run = () =>
        settings.rate_limit_batch_max > 1
          ? // slot: on a Cluster a call holds this one key (groupOf), on one server slots do not apply
            decide({ key: `${options.prefix}${key}`, interval: intervalMicros(policy), limit: policy.limit, cost })
          : client
              // slot: the one key of a one-key script
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
