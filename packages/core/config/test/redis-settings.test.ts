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

  it('refuses a port outside 1–65535, naming the variable (the client waited its whole start for it)', () => {
    for (const nodes of ['10.0.0.1:7000,10.0.0.2:70000', '10.0.0.1:0', '[::1]:99999']) {
      try {
        load({ DIANA_REDIS_CLUSTER_NODES: nodes });
        expect.unreachable(nodes);
      } catch (error) {
        expect((error as ValidationError).code).toBe('E_CONFIG_SETTINGS_INVALID');
        expect((error as Error).message).toContain('DIANA_REDIS_CLUSTER_NODES');
        expect((error as Error).message).toContain('expected ports 1–65535');
      }
    }
    expect(load({ DIANA_REDIS_CLUSTER_NODES: '10.0.0.1:1,[::1]:65535' }).redis.cluster_nodes).toEqual([
      '10.0.0.1:1',
      '[::1]:65535',
    ]);
  });

  it('refuses a URL whose path is not the database number, naming the variable, the value hidden', () => {
    for (const url of ['redis://:s3cret@127.0.0.1:6379/x', 'redis://127.0.0.1:6379/-1', 'rediss://h:6380/0/1']) {
      try {
        load({ REDIS_URL: url });
        expect.unreachable(url);
      } catch (error) {
        expect((error as ValidationError).code).toBe('E_CONFIG_SETTINGS_INVALID');
        expect((error as Error).message).toContain(
          'REDIS_URL: is invalid (expected a URL (redis://, rediss://, unix://) whose path',
        );
        expect((error as Error).message).not.toContain('s3cret');
      }
    }
    for (const url of ['redis://h:6379', 'redis://h:6379/', 'redis://:pw@h:6379/15', 'unix:///run/redis.sock?db=2'])
      expect(load({ REDIS_URL: url }).redis.url?.reveal(), url).toBe(url);
  });
});
