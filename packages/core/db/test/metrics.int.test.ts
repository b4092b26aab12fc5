import { useTestDatabase, useTestMeter } from '@diana/test-services';
import { DURATION_BUCKETS_SECONDS } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { createPostgres } from '../src/postgres.js';

const meter = useTestMeter();
const testDb = await useTestDatabase('db-metrics');

describe('db metrics', () => {
  it('records query durations, transactions and pool gauges on the OpenTelemetry meter', async () => {
    const db = createPostgres({ url: testDb.url, application_name: 'metrics-test', pool_max: 2 });
    await Promise.all([1, 2, 3, 4, 5].map((n) => db.sql`select ${n}::int`));
    await db.transaction(async (tx) => tx`select 1`);
    await expect(db.sql`select no_such_column`).rejects.toThrow(/no_such_column/);
    const slow = createPostgres({ url: testDb.url, application_name: 'metrics-slow', pool_max: 1 });
    await slow.sql`select pg_sleep(0.05)`;

    const collected = await meter.collect();
    const pool = { pool: 'metrics-test' };
    expect(collected.count('diana.db.query.duration', { ...pool, outcome: 'ok' })).toBeGreaterThanOrEqual(6);
    expect(collected.count('diana.db.query.duration', { outcome: 'error', code: '42703' })).toBe(1);
    expect(collected.sum('diana.db.transactions', { outcome: 'commit' })).toBe(1);
    expect(collected.sum('diana.db.pool.open', pool)).toBe(2);
    // OpenTelemetry conventions: seconds, with buckets made for seconds
    expect(collected.descriptor('diana.db.query.duration')).toEqual({
      unit: 's',
      boundaries: DURATION_BUCKETS_SECONDS,
    });
    const slept = collected.total('diana.db.query.duration', { pool: 'metrics-slow' });
    expect(slept).toBeGreaterThanOrEqual(0.05);
    expect(slept).toBeLessThan(5);
    await db.close();
    await slow.close();
  });
});
