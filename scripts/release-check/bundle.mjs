// Bundled by `pnpm release:check` with esbuild (every dependency inside) and run from a folder
// with no node_modules: each package's shipped files — migrations, Lua scripts, the story —
// must be in the bundle. Uses every public package once. Usage: node bundle.mjs DATABASE_URL REDIS_URL
import { ADMIN_MIGRATIONS } from '@diana/admin';
import { createCache } from '@diana/cache';
import { createRedisCacheStore } from '@diana/cache/adapters/redis';
import { CONFIG_MIGRATIONS } from '@diana/config';
import { loadSettings } from '@diana/config/settings';
import { createPostgres, DatabaseConfig, DB_MIGRATIONS, migrate } from '@diana/db';
import { EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { GAMIFICATION_MIGRATIONS } from '@diana/gamification';
import { loadDefaultStory } from '@diana/narrative';
import postgres from '@diana/postgres';
import { createRedisConnector } from '@diana/redis';
import { createRateLimiter, createTokenService, SECURITY_MIGRATIONS } from '@diana/security';
import { createRedisRateLimitStore } from '@diana/security/adapters/redis';
import { createUserStateManager, defineSlice, USER_STATE_MIGRATIONS } from '@diana/user-state';
import { createRedisStateStore } from '@diana/user-state/adapters/redis';
import { newId } from '@diana/utils';
import * as v from 'valibot';

const [databaseUrl, redisUrl] = process.argv.slice(2);
const run = `bundle_${process.pid}`;
const admin = postgres(databaseUrl, { max: 1, onnotice: () => {} });
const connector = createRedisConnector({ url: redisUrl, options: { keyPrefix: `${run}:` } });
const result = {};
try {
  await admin.unsafe(`create database ${run}`);
  const url = new URL(databaseUrl);
  url.pathname = `/${run}`;
  const settings = loadSettings({ database: DatabaseConfig }, { DATABASE_URL: url.href }, { env_file: false });
  const db = createPostgres(settings.database);
  const sources = [
    DB_MIGRATIONS,
    EVENT_BUS_MIGRATIONS,
    CONFIG_MIGRATIONS,
    SECURITY_MIGRATIONS,
    USER_STATE_MIGRATIONS,
    ADMIN_MIGRATIONS,
    GAMIFICATION_MIGRATIONS,
  ];
  // every source carries its SQL (embedded); none reads a folder
  result.embedded_sources = sources.filter((s) => s.files && Object.keys(s.files).length > 0).length;
  result.sources = sources.length;
  result.applied = (await migrate(db, sources)).applied.length;
  result.files = sources.reduce((n, s) => n + Object.keys(s.files ?? {}).length, 0);
  // a token on the shipped schema: revoked, then refused as revoked (its column is migration 0002)
  const tokens = createTokenService({ token_pepper: 'bundle-token-pepper-'.padEnd(40, 'x') }, { db });
  const issued = await tokens.issue({ purpose: 'vip', ttl_ms: 60_000 });
  await tokens.revoke({ token: issued.token }, 'vip');
  result.token = await tokens.redeem(issued.token, 'vip').then(
    () => 'redeemed',
    (error) => error.code,
  );
  await db.close();

  // Lua: the bus's scripts load when its transport is made, the limiter's GCRA runs on Redis
  const transport = createRedisStreamsTransport({}, { connector });
  result.transport = typeof transport.close === 'function';
  await transport.close();
  const limiter = createRateLimiter(
    {},
    {
      store: createRedisRateLimitStore({}, { connector }),
      getPolicy: () => ({ limit: 2, window_ms: 60_000 }),
    },
  );
  const decisions = [];
  for (let i = 0; i < 3; i++) decisions.push((await limiter.consume(7, 'bundle.try')).allowed);
  result.limiter = decisions;
  await limiter.close();
  const menu = defineSlice('menu', { schema: v.string(), initial: 'home', persist: false, ttl_ms: 60_000 });
  const state = createUserStateManager({}, { store: createRedisStateStore({}, { connector }), slices: [menu] });
  const user = newId();
  await state.update(user, 'menu', () => 'shop');
  result.user_state = await state.get(user, 'menu');
  await state.close();

  const cache = createCache({}, { store: createRedisCacheStore({}, { connector }) });
  result.cache = await cache.namespace(run).getOrSet('k', async () => 'v', { ttl_ms: 1_000 });
  await cache.close();

  result.story_fragments = loadDefaultStory().fragments.size;
} finally {
  await connector.close();
  // the database first: a failure of the Redis clean-up below must not leave it behind
  await admin.unsafe(`drop database if exists ${run} with (force)`).catch(() => {});
  await admin.end();
  // the limiter's and the menu slice's keys live up to a minute: removed now (SCAN ignores the
  // connector's keyPrefix, so a client without one does this)
  const cleaner = createRedisConnector({ url: redisUrl });
  try {
    const client = cleaner.command();
    await cleaner.ready(); // a command client has no offline queue
    const keysOfRun = async () => {
      const found = [];
      let cursor = '0';
      do {
        const [next, keys] = await client.scan(cursor, 'MATCH', `${run}:*`, 'COUNT', 1_000);
        cursor = next;
        found.push(...keys);
      } while (cursor !== '0');
      return found;
    };
    let removed = 0;
    for (const key of await keysOfRun()) removed += await client.unlink(key);
    result.redis_keys_removed = removed;
    result.redis_keys_left = (await keysOfRun()).length;
  } finally {
    await cleaner.close();
  }
}
console.log(JSON.stringify(result));
