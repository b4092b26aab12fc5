// The start's check of Redis's settings, on a private server: each setting read on its own, so
// one the server will not say (an ACL) does not hide the other's risk.
import { createRedisConnector } from '@diana/redis';
import { captureLogLines, startRedis } from '@diana/test-services';
import { createLogger } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { checkRedisSettings } from '../src/redis-connection.js';

describe("the start's Redis settings check", () => {
  it('a user refused INFO persistence still hears the eviction risk at error; the unread setting is said at debug', async () => {
    await using redis = await startRedis({ appendonly: false, args: ['--maxmemory-policy', 'allkeys-lru'] });
    const setup = createRedisConnector({ url: redis.url });
    const admin = setup.command({ name: 'acl-setup' });
    await setup.ready({ timeout_ms: 5_000 });
    // INFO memory (maxmemory_policy) allowed, INFO persistence (aof_enabled) refused: NOPERM
    await admin.call('ACL', 'SETUSER', 'partial', 'on', '>pw-partial-1', '~*', '&*', '+@all', '-info', '+info|memory');
    await setup.close();
    const url = new URL(redis.url);
    url.username = 'partial';
    url.password = 'pw-partial-1';
    const connector = createRedisConnector({ url: url.toString() });
    const { destination, lines } = captureLogLines();
    try {
      await checkRedisSettings(connector, createLogger({ level: 'debug', destination }));
    } finally {
      await connector.close();
    }
    // before: one debug line, and the allkeys-lru error lost with the refused read
    expect(lines.filter((l) => l.level === 'error')).toMatchObject([{ maxmemory_policy: 'allkeys-lru' }]);
    const unread = lines.find((l) => l.msg === 'could not read Redis appendonly');
    expect(unread).toMatchObject({ level: 'debug' });
    expect(JSON.stringify(unread)).toContain('NOPERM');
    expect(lines.some((l) => String(l.msg).includes('append-only'))).toBe(false); // not guessed
  });
});
