import { createSecret, revealSecret } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { redisConnection } from '../src/redis-connection.js';

describe('redisConnection', () => {
  it('is a cluster when DIANA_REDIS_CLUSTER_NODES is set, the URL giving credentials first', () => {
    const url = createSecret('redis://:pw@10.0.0.1:7000');
    expect(redisConnection({ url, cluster_nodes: ['10.0.0.2:7001', '10.0.0.3:7002'] })).toEqual({
      cluster: { nodes: [revealSecret(url), '10.0.0.2:7001', '10.0.0.3:7002'] },
    });
    expect(redisConnection({ cluster_nodes: ['10.0.0.2:7001'] })).toEqual({ cluster: { nodes: ['10.0.0.2:7001'] } });
  });

  it('is one server with only a URL, and nothing without either', () => {
    expect(redisConnection({ url: createSecret('redis://127.0.0.1:6379') })).toEqual({ url: 'redis://127.0.0.1:6379' });
    expect(redisConnection({})).toBeUndefined();
  });
});
