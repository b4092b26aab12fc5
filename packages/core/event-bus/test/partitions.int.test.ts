import { createPostgres, type Database } from '@diana/db';
import { createRedisConnector, type RedisConnector } from '@diana/redis';
import { useTestDatabase, useTestRedis } from '@diana/test-services';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS, describeEventBusTransport } from '../src/testing.js';
import { describePartitionCases } from './fixtures/partition-cases.js';

// Partitioned types on one Redis: the conformance suite with every type in 4 partitions, the
// partition cases, and what must not change with 1 partition.
const redis = await useTestRedis('ev-partitions');
const testDb = await useTestDatabase('ev_partitions');
const port = Number(new URL(redis.url).port);
const connectors: RedisConnector[] = [];
const raw = new Redis(redis.url);
let db: Database | undefined;
afterAll(async () => {
  raw.disconnect();
  await db?.close();
  await Promise.all(connectors.map((c) => c.close({ timeout_ms: 200 })));
});
const connector = () => {
  const made = createRedisConnector({ options: { host: '127.0.0.1', port } });
  connectors.push(made);
  return made;
};
const transport = (prefix: string, partitions?: Record<string, number>) =>
  createRedisStreamsTransport({ prefix, ...(partitions ? { partitions } : {}) }, { connector: connector() });

describeEventBusTransport('redis-streams, every type in 4 partitions', async (namespace) =>
  transport(`${redis.prefix}${namespace}:`, { 'test.happened': 4, 'test.keyed': 4 }),
);

describePartitionCases('one server', {
  prefix: `${redis.prefix}cases:`,
  transport,
  raw: () => raw,
  db: () => {
    db ??= createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
    return db;
  },
});

describe('1 partition is the layout of before', () => {
  it('names the same keys as a transport without partitions, and 4 partitions still read what was there', async () => {
    const prefix = `${redis.prefix}legacy:`;
    const before = transport(prefix);
    const one = transport(prefix, { 'test.keyed': 1 });
    const bus = createEventBus(CONFORMANCE_CONFIG, { transport: before, events: CONFORMANCE_EVENTS });
    const busOne = createEventBus(CONFORMANCE_CONFIG, { transport: one, events: CONFORMANCE_EVENTS });
    for (let seq = 0; seq < 5; seq++) await bus.publish('test.keyed', { key: `u${seq}`, seq }, { key: `u${seq}` });
    for (let seq = 5; seq < 10; seq++) await busOne.publish('test.keyed', { key: `u${seq}`, seq }, { key: `u${seq}` });
    await bus.close();
    await busOne.close();
    // the stream and its keep mark
    expect(await keysUnder(prefix)).toEqual([`${prefix}{test.keyed}`, `${prefix}{test.keyed}:keep`]);
    expect(await raw.xlen(`${prefix}{test.keyed}`)).toBe(10);

    // the same type in 4 partitions: the old stream is partition 0, read like the others
    const four = transport(prefix, { 'test.keyed': 4 });
    const bus4 = createEventBus(CONFORMANCE_CONFIG, { transport: four, events: CONFORMANCE_EVENTS });
    const got: number[] = [];
    bus4.subscribe('late', 'test.keyed', (e) => void got.push(e.payload.seq));
    try {
      for (let seq = 10; seq < 30; seq++) await bus4.publish('test.keyed', { key: `u${seq}`, seq }, { key: `u${seq}` });
      const deadline = Date.now() + 10_000;
      while (got.length < 30 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(got.sort((a, b) => a - b)).toEqual(Array.from({ length: 30 }, (_, i) => i));
      expect((await keysUnder(prefix)).filter((key) => !key.endsWith(':keep')).length).toBe(4);
      expect(await four.streamLength('test.keyed')).toBe(30);
    } finally {
      await bus4.close();
      await Promise.all([before, one, four].map((t) => t.close()));
    }
  });

  it.each([{ 'test.keyed': 0 }, { 'test.keyed': 300 }, { Bad: 2 }, 'test.keyed=two'])(
    'refuses partitions %j with E_BUS_CONFIG',
    (partitions) => {
      expect(() =>
        createRedisStreamsTransport(
          { partitions: partitions as unknown as Record<string, number> },
          { connector: createRedisConnector({ options: { port: 1 } }) },
        ),
      ).toThrow(expect.objectContaining({ code: 'E_BUS_CONFIG' }));
    },
  );
});

async function keysUnder(prefix: string): Promise<string[]> {
  const out: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await raw.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 500);
    cursor = next;
    out.push(...keys);
  } while (cursor !== '0');
  return out.sort();
}
