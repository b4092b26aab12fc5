import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { cleanUpAfter } from './cleanup.js';
import { getRedisUrl } from './discover.js';

/** A key prefix on the shared test Redis, owned by one test file. */
export interface TestRedis {
  readonly url: string;
  /** Every key the test writes starts with it, e.g. `t:cache:1a2b3c:`. */
  readonly prefix: string;
  /** Deletes every key under the prefix (SCAN + UNLINK). */
  cleanup(): Promise<number>;
}

/** A fresh key prefix on the test Redis; the caller cleans up. */
export async function createTestRedis(label: string): Promise<TestRedis> {
  const url = await getRedisUrl();
  const prefix = `t:${label.replace(/[^A-Za-z0-9_-]+/g, '-')}:${randomBytes(4).toString('hex')}:`;
  return { url, prefix, cleanup: () => deleteByPrefix(url, prefix) };
}

/** A key prefix, cleaned up after the test that asked (outside a test: after the file's tests). */
export async function useTestRedis(label: string): Promise<TestRedis> {
  const redis = await createTestRedis(label);
  cleanUpAfter(() => redis.cleanup());
  return redis;
}

/** Deletes every key starting with `prefix`; returns how many. */
export async function deleteByPrefix(url: string, prefix: string): Promise<number> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  client.on('error', () => {});
  await client.connect();
  let deleted = 0;
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
    let cursor = '0';
    do {
      const [next, keys] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      if (keys.length > 0) deleted += await client.unlink(...keys);
    } while (cursor !== '0');
  } finally {
    client.disconnect();
  }
  return deleted;
}
