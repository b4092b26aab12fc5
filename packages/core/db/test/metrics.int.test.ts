import { useTestDatabase, useTestMeter } from '@diana/test-services';
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

    const collected = await meter.collect();
    const pool = { pool: 'metrics-test' };
    expect(collected.count('diana.db.query.duration', { ...pool, outcome: 'ok' })).toBeGreaterThanOrEqual(6);
    expect(collected.count('diana.db.query.duration', { outcome: 'error', code: '42703' })).toBe(1);
    expect(collected.sum('diana.db.transactions', { outcome: 'commit' })).toBe(1);
    expect(collected.sum('diana.db.pool.open', pool)).toBe(2);
    await db.close();
  });
});
