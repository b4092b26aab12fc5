// Faults of Redis under the manager, on a private redis-server: flushed, killed, restarted.
import { createPostgres, DB_MIGRATIONS, migrate } from '@diana/db';
import { startRedis, useTestDatabase } from '@diana/test-services';
import { isDianaError, newId } from '@diana/utils';
import { Redis } from 'ioredis';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createUserStateManager } from '../src/manager.js';
import { USER_STATE_MIGRATIONS } from '../src/migrations.js';
import { defineSlice } from '../src/slice.js';
import { redisStore } from './fixtures/redis-store.js';

const testDb = await useTestDatabase('user-state-chaos');
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url });
const server = await startRedis();
const slices = [
  defineSlice('narrative', { schema: v.object({ at: v.string() }), initial: { at: 'start' }, persist: true }),
  defineSlice('menu', { schema: v.string(), initial: 'home', persist: false, ttl_ms: 600_000 }),
] as const;
const config = { command_timeout_ms: 300 };
const state = createUserStateManager(config, { db, store: redisStore(config, server.port), slices });
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, USER_STATE_MIGRATIONS]);
});
afterAll(async () => {
  await state.close();
  await server.stop();
  await db.close();
});

describe('user state when Redis fails', () => {
  it('after FLUSHALL persistent slices come back from PostgreSQL unchanged; ephemeral ones reset', async () => {
    const user = newId();
    await state.set(user, 'narrative', { at: 'fragment-7' });
    await state.set(user, 'menu', 'shop');
    expect(await state.get(user, 'narrative')).toEqual({ at: 'fragment-7' });
    const admin = new Redis(server.url);
    expect(await admin.dbsize()).toBeGreaterThan(0);
    await admin.flushall();
    expect(await admin.dbsize()).toBe(0); // the fault happened
    admin.disconnect();
    expect(await state.get(user, 'narrative')).toEqual({ at: 'fragment-7' });
    expect(await state.get(user, 'menu')).toBe('home');
    expect(await state.update(user, 'narrative', (n) => ({ at: `${n.at}+` }))).toEqual({ at: 'fragment-7+' });
  });

  it('with Redis down: ephemeral slices fail fast with E_STATE_UNAVAILABLE, persistent ones keep working; all is back after a restart', async () => {
    const user = newId();
    await state.set(user, 'narrative', { at: 'a' });
    await server.kill();
    expect(server.pid).toBeUndefined(); // the fault happened
    const missesBefore = state.stats().cache_misses;

    const started = performance.now();
    const error = await state.set(user, 'menu', 'shop').catch((e: unknown) => e);
    expect(isDianaError(error, 'E_STATE_UNAVAILABLE')).toBe(true);
    expect(performance.now() - started).toBeLessThan(5_000); // 300 ms with a busy machine's slack
    // never sent (no connection): known not written, without a read-back that could only fail
    expect((error as { context: { outcome?: string } }).context.outcome).toBe('not_written');

    // persistent: PostgreSQL answers, the cache is skipped
    expect(await state.update(user, 'narrative', (n) => ({ at: `${n.at}b` }))).toEqual({ at: 'ab' });
    expect(await state.get(user, 'narrative')).toEqual({ at: 'ab' });
    expect(state.stats().cache_misses).toBeGreaterThan(missesBefore); // read from PostgreSQL

    await server.restart();
    const deadline = Date.now() + 10_000;
    let menu: unknown;
    while (Date.now() < deadline) {
      menu = await state.set(user, 'menu', 'story').catch((e: unknown) => e);
      if (menu === 'story') break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(menu).toBe('story');
    expect(await state.get(user, 'narrative')).toEqual({ at: 'ab' });
  });

  it('with Redis not answering: a write sent and never answered is E_STATE_UNAVAILABLE with outcome unknown', async () => {
    const user = newId();
    await state.set(user, 'menu', 'home');
    server.pause();
    let error: unknown;
    try {
      error = await state.set(user, 'menu', 'shop').catch((e: unknown) => e);
    } finally {
      server.resume();
    }
    expect(isDianaError(error, 'E_STATE_UNAVAILABLE')).toBe(true);
    // sent: it may land once Redis answers again, so neither written nor not written is known
    expect((error as { context: { outcome?: string } }).context.outcome).toBe('unknown');
    const deadline = Date.now() + 10_000;
    let menu: unknown = await state.get(user, 'menu').catch((e: unknown) => e);
    while (typeof menu !== 'string' && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      menu = await state.get(user, 'menu').catch((e: unknown) => e);
    }
    expect(['home', 'shop']).toContain(menu);
  });

  it('a refresh lost while Redis was down is repaired: nobody keeps reading the older cached row', async () => {
    // AOF with fsync on every write: the older cached row survives the crash
    await using durable = await startRedis({ appendonly: true, appendfsync: 'always' });
    const a = createUserStateManager(config, { db, store: redisStore(config, durable.port), slices });
    const b = createUserStateManager(config, { db, store: redisStore(config, durable.port), slices });
    const user = newId();
    await a.set(user, 'narrative', { at: 'old' });
    expect(await b.get(user, 'narrative')).toEqual({ at: 'old' });
    expect(b.stats().cache_hits).toBe(1);
    await durable.kill();
    await a.set(user, 'narrative', { at: 'new' }); // PostgreSQL takes it; the cache cannot
    await durable.restart();
    const admin = new Redis(durable.url);
    expect(await admin.get(`diana:us:{u:${user}}:p:narrative`)).toMatch(/\|\{"at":"old"\}$/); // the stale copy is there
    // a's next cache command deletes the copy it could not refresh
    const deadline = Date.now() + 10_000;
    while ((await admin.exists(`diana:us:{u:${user}}:p:narrative`)) === 1 && Date.now() < deadline) {
      expect(await a.get(user, 'narrative')).toEqual({ at: 'new' });
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    admin.disconnect();
    expect(await b.get(user, 'narrative')).toEqual({ at: 'new' });
    await Promise.all([a.close(), b.close()]);
  });
});
