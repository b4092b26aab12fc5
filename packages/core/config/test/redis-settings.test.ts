import { ValidationError } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { loadSettings } from '../src/loader.js';
import { RedisConfig } from '../src/redis.js';

const load = (env: Record<string, string>) => loadSettings({ redis: RedisConfig }, env, { env_file: false });

describe('RedisConfig', () => {
  it('reads DIANA_REDIS_CLUSTER_NODES as a list of host:port seeds', () => {
    const settings = load({ DIANA_REDIS_CLUSTER_NODES: ' 10.0.0.1:7000, redis-b:7001,[::1]:7002, ' });
    expect(settings.redis.cluster_nodes).toEqual(['10.0.0.1:7000', 'redis-b:7001', '[::1]:7002']);
    expect(settings.redis.url).toBeUndefined();
  });

  it('leaves both unset by default', () => {
    expect(load({}).redis).toEqual({});
  });

  it('refuses an entry that is not host:port, naming the variable', () => {
    try {
      load({ DIANA_REDIS_CLUSTER_NODES: '10.0.0.1:7000,redis://x:7001' });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      expect(JSON.stringify((error as ValidationError).issues)).toContain('DIANA_REDIS_CLUSTER_NODES');
    }
  });
});
