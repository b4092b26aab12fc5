import { createPostgres, type Database, DB_MIGRATIONS, migrate } from '@diana/db';
import { createEventBus, createMemoryTransport, createOutboxRelay, EVENT_BUS_MIGRATIONS } from '@diana/event-bus';
import { captureLogLines, until as pollUntil, useTestDatabase, watchStuckTests } from '@diana/test-services';
import { createLogger, isDianaError } from '@diana/utils';
import * as v from 'valibot';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONFIG_EVENTS } from '../src/events.js';
import { createConfigManager } from '../src/manager.js';
import { type ConfigManager, configReader } from '../src/manager-types.js';
import { CONFIG_MIGRATIONS } from '../src/migrations.js';
import { defineTemplate, type TemplateDefinition } from '../src/templates.js';
import { dailyGift, TEMPLATES } from './fixtures/templates.js';

const testDb = await useTestDatabase('config-manager');
// CI's PgBouncer pass once saw the last test's template upsert never answer (30 s): a test still
// running after 20 s prints what the database and the pooler are doing
watchStuckTests(testDb);
const db = createPostgres({ url: testDb.url, direct_url: testDb.direct_url, pool_max: 10 });
const transport = createMemoryTransport();
const bus = createEventBus({}, { transport, events: CONFIG_EVENTS });
const relay = createOutboxRelay({ outbox_poll_ms: 20 }, { db, transport });
const managers: ConfigManager<readonly TemplateDefinition[]>[] = [];
beforeAll(async () => {
  await migrate(db, [DB_MIGRATIONS, EVENT_BUS_MIGRATIONS, CONFIG_MIGRATIONS]);
});
afterAll(async () => {
  await Promise.all(managers.map((m) => m.close()));
  await relay.close();
  await bus.close();
  await db.close();
});
const admin = { actor: 'admin:1', reason: 'test' };
const make = async <const T extends readonly TemplateDefinition[]>(
  templates: T,
  config = {},
  database: Database = db,
) => {
  const manager = createConfigManager({ resync_interval_ms: 0, ...config }, { db: database, bus, templates });
  managers.push(manager as never);
  await manager.start();
  return manager;
};
const codeOf = async (work: Promise<unknown>) => {
  const error = await work.then(
    () => undefined,
    (e: unknown) => e,
  );
  return isDianaError(error) ? error.code : error;
};
// a deadline for what must happen, not a timing goal (the benchmark measures that): 2 s ran out
// once in CI's PgBouncer pass with another package's tests beside it
const until = (check: () => Promise<boolean> | boolean, ms = 10_000) => pollUntil(check, ms, 5);

describe('ConfigManager', () => {
  it('serves defaults, then the published global value, then a scoped one over it — frozen, without I/O', async () => {
    const config = await make(TEMPLATES);
    expect(config.get('gamification.daily_gift')).toEqual({ amount: 10, streak_bonus: 2 });
    const draft = await config.createDraft('gamification.daily_gift', { amount: 20 }, admin); // merged over defaults
    expect(draft).toMatchObject({ status: 'draft', values: { amount: 20, streak_bonus: 2 }, revision: 1 });
    expect(config.get('gamification.daily_gift').amount).toBe(10); // a draft changes nothing
    await config.publish(draft.id, admin);
    expect(await until(() => config.get('gamification.daily_gift').amount === 20)).toBe(true);
    const scoped = await config.createDraft(
      'gamification.daily_gift',
      { amount: 50 },
      { ...admin, scope: 'channel:-100200' },
    );
    await config.publish(scoped.id, admin);
    expect(await until(() => config.get('gamification.daily_gift', { scope: 'channel:-100200' }).amount === 50)).toBe(
      true,
    );
    expect(config.get('gamification.daily_gift', { scope: 'channel:-100999' }).amount).toBe(20);

    // get performs no I/O: count every query of the pool while reading
    let queries = 0;
    const counting = new Proxy(db, {
      get(target, property, receiver) {
        if (property === 'sql' || property === 'session' || property === 'transaction') queries++;
        return Reflect.get(target, property, receiver);
      },
    });
    const reader = await make(TEMPLATES, {}, counting);
    const afterStart = queries;
    expect(afterStart).toBeGreaterThan(0); // the counter counts
    for (let i = 0; i < 10_000; i++) reader.get('gamification.daily_gift', { scope: 'channel:-100200' });
    expect(queries).toBe(afterStart);
    const value = reader.get('gamification.daily_gift');
    expect(Object.isFrozen(value)).toBe(true);
    expect(() => {
      (value as { amount: number }).amount = 1;
    }).toThrow(TypeError);
  });

  it('refuses an invalid draft with E_CONFIG_INVALID listing each issue, writing nothing', async () => {
    const config = await make(TEMPLATES);
    const before = await db.sql`select count(*)::int as n from config_instances`;
    let error: unknown;
    try {
      await config.createDraft('gamification.daily_gift', { amount: 0, streak_bonus: 'many' }, admin);
    } catch (e) {
      error = e;
    }
    expect(isDianaError(error, 'E_CONFIG_INVALID')).toBe(true);
    expect((error as { issues: Array<{ path: string }> }).issues.map((i) => i.path).sort()).toEqual([
      'amount',
      'streak_bonus',
    ]);
    expect(await db.sql`select count(*)::int as n from config_instances`).toEqual(before);
    expect(await codeOf(config.createDraft('nope.key' as never, {}, admin))).toBe('E_CONFIG_NOT_FOUND');
    expect(await codeOf(config.createDraft('narrative.welcome_text', 'hola', { ...admin, scope: 'bad scope' }))).toBe(
      'E_CONFIG_USAGE',
    );
    expect(await codeOf(config.createDraft('narrative.welcome_text', 'hola', { actor: '', reason: '' }))).toBe(
      'E_CONFIG_USAGE',
    );
  });

  it('refuses an array where the template has a map (v.record takes [] for an empty one): nothing published', async () => {
    const limits = defineTemplate('security.limits', {
      type: 'setting',
      schema: v.record(v.string(), v.object({ limit: v.number() })),
      defaults: { updates: { limit: 20 } },
    });
    const config = await make([limits]);
    const before = await db.sql`select count(*)::int as n from config_instances`;
    for (const values of [[], [{ limit: 1 }]]) {
      const error = await config.createDraft('security.limits', values as never, admin).catch((e: unknown) => e);
      expect(isDianaError(error, 'E_CONFIG_INVALID')).toBe(true);
    }
    const nested = defineTemplate('security.nested', {
      type: 'setting',
      schema: v.object({ per_action: v.record(v.string(), v.number()) }),
      defaults: { per_action: { updates: 1 } },
    });
    const other = await make([nested]);
    const error = await other
      .createDraft('security.nested', { per_action: [] } as never, admin)
      .catch((e: unknown) => e);
    expect((error as { issues: unknown[] }).issues).toEqual([
      { path: 'per_action', message: 'expected an object, received an array', expected: 'Object', received: 'Array' },
    ]);
    expect(await db.sql`select count(*)::int as n from config_instances`).toEqual(before);
    // an empty map is still a map
    await config.createDraft('security.limits', {}, admin);
  });

  it('refuses with E_CONFIG_INVALID what PostgreSQL cannot store (U+0000, a lone surrogate, a BigInt), writing nothing', async () => {
    const config = await make(TEMPLATES);
    const count = async () => (await db.sql<{ n: number }[]>`select count(*)::int as n from config_instances`)[0]?.n;
    const before = await count();
    const issuesOf = async (work: Promise<unknown>) => {
      const error = await work.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isDianaError(error, 'E_CONFIG_INVALID'), String(error)).toBe(true); // before: E_DB_QUERY, a TypeError
      return (error as { issues: Array<{ path: string }> }).issues.map((i) => i.path);
    };
    expect(await issuesOf(config.createDraft('narrative.welcome_text', 'Hola\u0000', admin))).toEqual(['']);
    expect(await issuesOf(config.createDraft('narrative.welcome_text', 'Hola \ud800', admin))).toEqual(['']);
    expect(await issuesOf(config.createDraft('gamification.daily_gift', { amount: 10n }, admin))).toEqual(['']);
    const draft = await config.createDraft('narrative.welcome_text', 'Hola \u{1F44B}', admin); // a pair is fine
    expect(await issuesOf(config.updateDraft(draft.id, 'x\udc00y', admin))).toEqual(['']);
    expect(await count()).toBe((before ?? 0) + 1);
    expect((await config.instance(draft.id))?.values).toBe('Hola \u{1F44B}');
  });

  it('refuses a key the template would drop (a typo) instead of publishing a change that changes nothing', async () => {
    const config = await make(TEMPLATES);
    const before = await db.sql`select count(*)::int as n from config_instances`;
    const error = await config.createDraft('gamification.daily_gift', { amuont: 33, __proto__: { x: 1 } }, admin).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isDianaError(error, 'E_CONFIG_INVALID')).toBe(true);
    expect((error as { issues: unknown[] }).issues).toEqual([
      { path: 'amuont', message: 'unknown key "amuont"', expected: 'never', received: '"amuont"' },
    ]);
    expect(await db.sql`select count(*)::int as n from config_instances`).toEqual(before);
    // JSON's own "__proto__" key (what an admin's text parses to) is named too
    const parsed = JSON.parse('{"amount": 12, "__proto__": {"amount": 1}}');
    const proto = await codeOf(config.createDraft('gamification.daily_gift', parsed, admin));
    expect(proto).toBe('E_CONFIG_INVALID');
    // an update of a draft is checked the same way
    const draft = await config.createDraft('gamification.daily_gift', { amount: 12 }, admin);
    expect(await codeOf(config.updateDraft(draft.id, { amount: 13, streak_bonuss: 1 }, admin))).toBe(
      'E_CONFIG_INVALID',
    );
  });

  it('records every change as an immutable revision with actor, reason and a JSON Patch; rollback is a new revision', async () => {
    const config = await make(TEMPLATES);
    const draft = await config.createDraft('narrative.welcome_text', 'Hola', { ...admin, scope: 'lang:es' });
    await config.updateDraft(draft.id, 'Hola, bienvenido', {
      actor: 'admin:2',
      reason: 'friendlier',
      expected_version: 1,
    });
    expect(await codeOf(config.updateDraft(draft.id, 'x', { ...admin, expected_version: 1 }))).toBe(
      'E_CONFIG_CONFLICT',
    );
    await config.publish(draft.id, { actor: 'admin:2', reason: 'launch' });
    expect(await codeOf(config.updateDraft(draft.id, 'x', admin))).toBe('E_CONFIG_STATE');
    const rolled = await config.rollback(draft.id, 1, { actor: 'admin:3', reason: 'too long' });
    expect(rolled.values).toBe('Hola');
    expect(await until(() => config.get('narrative.welcome_text', { scope: 'lang:es' }) === 'Hola')).toBe(true);
    const history = await config.history(draft.id);
    expect(history.map((r) => [r.revision, r.action, r.actor, r.values])).toEqual([
      [1, 'create', 'admin:1', 'Hola'],
      [2, 'update', 'admin:2', 'Hola, bienvenido'],
      [3, 'publish', 'admin:2', 'Hola, bienvenido'],
      [4, 'rollback', 'admin:3', 'Hola'],
    ]);
    expect(history[1]?.diff).toEqual([{ op: 'replace', path: '/value', value: 'Hola, bienvenido' }]);
    expect(history[3]?.reason).toBe('to revision 1: too long');
    expect(await codeOf(config.rollback(draft.id, 99, admin))).toBe('E_CONFIG_NOT_FOUND');
    // revisions are rows nobody updates: the table has no update path in the code
    expect(await codeOf(config.history('not-a-uuid'))).toBe('E_CONFIG_USAGE');
  });

  it('a key has one history across its instances; restore brings back any revision of it, an archived one too', async () => {
    const config = await make(TEMPLATES);
    const scope = 'channel:-100400';
    const set = async (amount: number) => {
      const draft = await config.createDraft('gamification.daily_gift', { amount }, { ...admin, scope });
      return config.publish(draft.id, admin);
    };
    const first = await set(30);
    const second = await set(40); // the first instance archived: its own history ends there
    const amounts = async () =>
      (await config.keyHistory('gamification.daily_gift', { scope })).map((r) => [
        r.number,
        r.action,
        (r.values as { amount: number }).amount,
      ]);
    expect(await amounts()).toEqual([
      [1, 'create', 30],
      [2, 'publish', 30],
      [3, 'create', 40],
      [4, 'archive', 30],
      [5, 'publish', 40],
    ]);
    // (before: the history of the active instance alone, where 30 is not)
    expect((await config.history(second.id)).map((r) => r.revision)).toEqual([1, 2]);
    // a revision of an archived instance: a new instance with its values, published
    const restored = await config.restore('gamification.daily_gift', 2, { ...admin, scope });
    expect(restored.status).toBe('active');
    expect(restored.id).not.toBe(first.id);
    expect((restored.values as { amount: number }).amount).toBe(30);
    expect(await until(() => config.get('gamification.daily_gift', { scope }).amount === 30)).toBe(true);
    // a revision of the active instance: a rollback of it, a revision more
    const again = await config.restore('gamification.daily_gift', 6, { ...admin, scope }); // its create (30)
    expect(again.id).toBe(restored.id);
    const history = await config.keyHistory('gamification.daily_gift', { scope });
    expect(history.at(-1)).toMatchObject({ number: 9, action: 'rollback', instance_id: restored.id }); // after 6 create, 7 archive (40), 8 publish
    expect(await codeOf(config.restore('gamification.daily_gift', 99, { ...admin, scope }))).toBe('E_CONFIG_NOT_FOUND');
    expect(await codeOf(config.keyHistory('no.such_key'))).toBe('E_CONFIG_NOT_FOUND');
    expect(await config.keyHistory('gamification.daily_gift', { scope: 'channel:-100401' })).toEqual([]);
  });

  it('a key history keeps each instance in order when two publishes race: its archive comes after its publish', async () => {
    const config = await make(TEMPLATES);
    let overlapped = 0;
    for (let round = 0; round < 15; round++) {
      const scope = `channel:-1005${String(round).padStart(2, '0')}`;
      const drafts = await Promise.all(
        [50, 60].map((amount) => config.createDraft('gamification.daily_gift', { amount }, { ...admin, scope })),
      );
      // both publishes start together: one waits for the other's lock
      const spans = await Promise.all(
        drafts.map(async (draft) => {
          const started = performance.now();
          await config.publish(draft.id, admin);
          return [started, performance.now()] as const;
        }),
      );
      const [a, b] = spans as [readonly [number, number], readonly [number, number]];
      if (a[0] < b[1] && b[0] < a[1]) overlapped++;
      const history = await config.keyHistory('gamification.daily_gift', { scope });
      const place = (id: string, action: string) =>
        history.findIndex((r) => r.instance_id === id && r.action === action);
      const first = drafts.find((d) => place(d.id, 'archive') >= 0) as { id: string };
      // the instance replaced: published, then archived by the other's publish, in that order
      expect(place(first.id, 'publish')).toBeLessThan(place(first.id, 'archive'));
    }
    expect(overlapped).toBeGreaterThan(0); // the race happened
  });

  it('publishing archives the previous active instance; archiving the active one falls back', async () => {
    const config = await make(TEMPLATES);
    const scope = 'channel:-100300';
    const first = await config.createDraft('gamification.daily_gift', { amount: 30 }, { ...admin, scope });
    await config.publish(first.id, admin);
    const second = await config.createDraft('gamification.daily_gift', { amount: 31 }, { ...admin, scope });
    await config.publish(second.id, admin);
    expect((await config.instance(first.id))?.status).toBe('archived');
    expect(await until(() => config.get('gamification.daily_gift', { scope }).amount === 31)).toBe(true);
    await config.archive(second.id, admin);
    const global = config.get('gamification.daily_gift').amount;
    expect(await until(() => config.get('gamification.daily_gift', { scope }).amount === global)).toBe(true);
    const changes: number[] = [];
    const stop = config.onChange('gamification.daily_gift', (value, info) => {
      if (info.scope === scope) changes.push(value.amount);
    });
    const third = await config.createDraft('gamification.daily_gift', { amount: 33 }, { ...admin, scope });
    await config.publish(third.id, admin);
    expect(await until(() => changes.includes(33))).toBe(true);
    stop();
  });

  it('reads its own write: a publish, archive or rollback is served once it resolves — inside a transaction, once that commits', async () => {
    const config = await make(TEMPLATES);
    // the reload the bus asks for once it reads (a resync after start): one whose read came after a
    // commit below would serve that write first, and it would not count as a write applied
    expect(await until(() => config.stats().resyncs >= 2)).toBe(true);
    const before = config.stats();
    const scope = 'channel:-100350';
    const amount = () => config.get('gamification.daily_gift', { scope }).amount;
    const global = config.get('gamification.daily_gift').amount;
    const changes: number[] = [];
    const stop = config.onChange('gamification.daily_gift', (value, info) => {
      if (info.scope === scope) changes.push(value.amount);
    });
    const first = await config.createDraft('gamification.daily_gift', { amount: 50 }, { ...admin, scope });
    await config.publish(first.id, admin);
    expect(amount()).toBe(50); // no wait: the event has not come back yet
    expect(changes).toEqual([50]);
    await config.rollback(first.id, 1, admin); // revision 1's values, a new seq
    expect(amount()).toBe(50);
    await config.archive(first.id, admin);
    expect(amount()).toBe(global);

    // inside the caller's transaction: not before its commit, never after its rollback
    const second = await config.createDraft('gamification.daily_gift', { amount: 53 }, { ...admin, scope });
    await db
      .transaction(async () => {
        await config.publish(second.id, admin);
        expect(amount()).toBe(global);
        throw new Error('rolled back');
      })
      .catch((error: unknown) => expect((error as Error).message).toBe('rolled back'));
    expect(amount()).toBe(global);
    await db.transaction(async () => {
      await config.publish(second.id, admin);
      expect(amount()).toBe(global);
    });
    expect(amount()).toBe(53);
    // publish, rollback, archive, publish: each served once, by its write — or first by its own
    // event (PostgreSQL tells listeners of a commit before the committing session's answer is
    // sent: on a busy machine the relay and the bus can win) or by a reload whose read came after
    // it (a reload counts once its read is back)
    const reloads = config.stats().resyncs - before.resyncs;
    const applied = config.stats().writes_applied - before.writes_applied;
    const byEvents = config.stats().events_applied - before.events_applied;
    expect(applied + byEvents).toBeLessThanOrEqual(4);
    expect(applied + byEvents + reloads).toBeGreaterThanOrEqual(4);
    expect(changes).toEqual([50, 50, global, 53]);
    // its own four events come back, and those not applied first change nothing
    expect(await until(() => config.stats().events_ignored - before.events_ignored >= 4 - byEvents)).toBe(true);
    expect(config.stats().events_applied - before.events_applied).toBe(byEvents);
    expect(amount()).toBe(53);
    stop();
  });

  it("a full reload whose snapshot predates a change it already serves keeps that change (another's publish, its own, an archive)", async () => {
    // B's full reload can be held after its snapshot is read, as a slow query on a busy pool is
    let hold: Promise<void> | undefined;
    let snapshots = 0;
    const sql = new Proxy(db.sql, {
      apply(target, self, args) {
        const query = Reflect.apply(target, self, args) as Promise<unknown>;
        const text = Array.isArray(args[0]) ? (args[0] as string[]).join('?') : '';
        const gate = hold;
        // the reload's read: every scope's row, not one key's or one instance's
        if (!gate || !text.includes('from config_instances') || /(template_key|id) =/.test(text)) return query;
        return Promise.resolve(query).then(async (rows) => {
          snapshots++;
          await gate;
          return rows;
        });
      },
    });
    const gated = new Proxy(db, {
      get: (target, property, receiver) => (property === 'sql' ? sql : Reflect.get(target, property, receiver)),
    });
    const a = await make(TEMPLATES);
    const b = await make(TEMPLATES, {}, gated);
    expect(await until(() => b.stats().resyncs >= 2)).toBe(true); // the bus's resync after start, not held
    const scope = 'channel:-100700';
    const amount = () => b.get('gamification.daily_gift', { scope }).amount;
    const global = b.get('gamification.daily_gift').amount;
    const staleReload = async (change: () => Promise<unknown>) => {
      let release!: () => void;
      hold = new Promise<void>((resolve) => {
        release = resolve;
      });
      const taken = snapshots;
      const reloads = b.stats().resyncs;
      const reload = b.resync();
      expect(await until(() => snapshots > taken)).toBe(true); // its snapshot is read, not yet applied
      hold = undefined;
      await change();
      // a reload counts once its read is back: not while held
      expect(b.stats().resyncs).toBe(reloads);
      release();
      await reload;
      expect(b.stats().resyncs).toBe(reloads + 1);
    };
    const set = async (manager: typeof a, value: number) => {
      const draft = await manager.createDraft('gamification.daily_gift', { amount: value }, { ...admin, scope });
      return manager.publish(draft.id, admin);
    };

    // another process's publish, seen through its event while the reload was held
    await staleReload(async () => {
      await set(a, 42);
      expect(await until(() => amount() === 42)).toBe(true);
    });
    expect(amount()).toBe(42); // before: the defaults, and its event ignored from then on
    // its own write, served when the publish resolved
    await staleReload(async () => {
      await set(b, 43);
      expect(amount()).toBe(43);
    });
    expect(amount()).toBe(43);
    // an archive: the older snapshot's active instance does not come back
    const active = (await b.list({ key: 'gamification.daily_gift', status: 'active' })).find((i) => i.scope === scope);
    await staleReload(async () => {
      await a.archive(active?.id ?? '', admin);
      expect(await until(() => amount() === global)).toBe(true);
    });
    expect(amount()).toBe(global);
    // and a reload after them agrees with PostgreSQL
    await set(a, 44);
    await b.resync();
    expect(amount()).toBe(44);
    await a.archive((await a.list({ status: 'active' })).find((i) => i.scope === scope)?.id ?? '', admin);
  });

  it('logs an onChange listener that throws or rejects, and tells the others (a rejection ended the process)', async () => {
    const { destination, lines } = captureLogLines();
    const logger = createLogger({ level: 'info', destination });
    const config = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: TEMPLATES, logger });
    managers.push(config as never);
    await config.start();
    const scope = 'channel:-100800';
    const told: number[] = [];
    config.onChange('gamification.daily_gift', () => {
      throw new Error('sync listener failed');
    });
    config.onChange('gamification.daily_gift', async () => {
      throw new Error('async listener failed');
    });
    config.onChange('gamification.daily_gift', (value, info) => {
      if (info.scope === scope) told.push(value.amount);
    });
    const draft = await config.createDraft('gamification.daily_gift', { amount: 61 }, { ...admin, scope });
    await config.publish(draft.id, admin);
    expect(told).toEqual([61]);
    const failures = () =>
      lines
        .filter((line) => line.msg === 'config onChange listener failed')
        .map((line) => (line.err as { message?: string } | undefined)?.message);
    expect(await until(() => failures().length === 2)).toBe(true);
    expect(failures().sort()).toEqual(['async listener failed', 'sync listener failed']);
    await config.archive(draft.id, admin);
  });

  it('serves a published null of a nullable template as null, globally and over the global value', async () => {
    const seasonEnd = defineTemplate('test.season_end', {
      type: 'event',
      schema: v.nullable(v.string()),
      defaults: '2027-01-01',
    });
    const config = await make([seasonEnd]);
    const set = async (value: string | null, scope = 'global') => {
      const draft = await config.createDraft('test.season_end', value, { ...admin, scope });
      return config.publish(draft.id, admin);
    };
    await set(null);
    expect(config.get('test.season_end')).toBeNull(); // before: the defaults
    await set('2027-06-30');
    const scoped = await set(null, 'channel:-100900');
    expect(config.get('test.season_end', { scope: 'channel:-100900' })).toBeNull(); // before: the global value
    expect(config.get('test.season_end', { scope: 'channel:-100901' })).toBe('2027-06-30');
    // a second process reads the same from PostgreSQL
    const other = await make([seasonEnd]);
    expect(other.get('test.season_end', { scope: 'channel:-100900' })).toBeNull();
    await config.archive(scoped.id, admin);
    expect(config.get('test.season_end', { scope: 'channel:-100900' })).toBe('2027-06-30');
  });

  it('refuses a malformed scope on reads too, with E_CONFIG_USAGE', async () => {
    const config = await make(TEMPLATES);
    const scopedGet = (scope: string) => () => config.get('gamification.daily_gift', { scope });
    for (const scope of ['Channel -1', 'channel:', '', 'global ']) {
      let error: unknown;
      try {
        scopedGet(scope)();
      } catch (e) {
        error = e;
      }
      expect(isDianaError(error, 'E_CONFIG_USAGE'), scope).toBe(true);
    }
    expect(scopedGet('channel:-1')().amount).toBe(config.get('gamification.daily_gift').amount);
  });

  it('two admins publishing one draft concurrently: one wins, the other gets E_CONFIG_CONFLICT; history shows one publish', async () => {
    const config = await make(TEMPLATES);
    const draft = await config.createDraft(
      'gamification.daily_gift',
      { amount: 77 },
      { ...admin, scope: 'channel:-100400' },
    );
    let open!: () => void;
    const gate = new Promise<void>((resolve) => {
      open = resolve;
    });
    const attempts = ['admin:a', 'admin:b'].map(async (actor) => {
      await gate;
      return codeOf(config.publish(draft.id, { actor, reason: 'race' }));
    });
    open();
    const codes = await Promise.all(attempts);
    expect(codes.filter((c) => c === undefined)).toHaveLength(1);
    expect(codes.filter((c) => c === 'E_CONFIG_CONFLICT')).toHaveLength(1);
    const publishes = (await config.history(draft.id)).filter((r) => r.action === 'publish');
    expect(publishes).toHaveLength(1);

    // two different drafts of one scope at once: both publish, one after the other; one stays active
    const [a, b] = await Promise.all(
      [1, 2].map((n) =>
        config.createDraft('gamification.daily_gift', { amount: n }, { ...admin, scope: 'channel:-100401' }),
      ),
    );
    await Promise.all([a, b].map((d) => config.publish((d as { id: string }).id, admin)));
    const active = await config.list({ key: 'gamification.daily_gift', status: 'active' });
    expect(active.filter((i) => i.scope === 'channel:-100401')).toHaveLength(1);
  });

  it('refuses to start when an active instance no longer matches the template, naming it; or keeps the last good revision', async () => {
    const config = await make(TEMPLATES);
    const draft = await config.createDraft(
      'gamification.daily_gift',
      { amount: 5 },
      { ...admin, scope: 'channel:-100500' },
    );
    await config.publish(draft.id, admin);
    // the code's schema changes incompatibly: amount must now be at least 100
    const stricter = defineTemplate('gamification.daily_gift', {
      type: 'setting',
      schema: v.object({ amount: v.pipe(v.number(), v.minValue(100)), streak_bonus: v.number() }),
      defaults: { amount: 100, streak_bonus: 2 },
    });
    const strict = createConfigManager({ resync_interval_ms: 0 }, { db, bus, templates: [stricter] });
    let error: unknown;
    try {
      await strict.start();
    } catch (e) {
      error = e;
    }
    await strict.close();
    expect(isDianaError(error, 'E_CONFIG_INVALID')).toBe(true);
    expect(String((error as Error).message)).toContain(draft.id);
    expect(String((error as Error).message)).toContain('amount');
    // with keep_last_known_good it starts; nothing valid exists for that scope → global or defaults
    const tolerant = await make([stricter], { keep_last_known_good: true });
    expect(tolerant.get('gamification.daily_gift', { scope: 'channel:-100500' }).amount).toBeGreaterThanOrEqual(100);
    expect(tolerant.stats().invalid).toBeGreaterThan(0);
    // clean up for the other tests: archive the instance the stricter code cannot read
    await config.archive(draft.id, admin);
  });

  it('a process with the newer schema never applies an instance it finds invalid, and keeps its last good value', async () => {
    const stricter = defineTemplate('gamification.daily_gift', {
      type: 'setting',
      schema: v.object({ amount: v.pipe(v.number(), v.maxValue(1_000)), streak_bonus: v.number() }),
      defaults: { amount: 10, streak_bonus: 2 },
    });
    const scope = 'channel:-100600';
    const writer = await make(TEMPLATES);
    const first = await writer.createDraft('gamification.daily_gift', { amount: 500 }, { ...admin, scope });
    await writer.publish(first.id, admin);
    const reader = await make([stricter]);
    expect(await until(() => reader.get('gamification.daily_gift', { scope }).amount === 500)).toBe(true);
    const second = await writer.createDraft('gamification.daily_gift', { amount: 5_000 }, { ...admin, scope });
    await writer.publish(second.id, admin);
    expect(await until(() => writer.get('gamification.daily_gift', { scope }).amount === 5_000)).toBe(true);
    expect(await until(() => reader.stats().invalid > 0)).toBe(true);
    expect(reader.get('gamification.daily_gift', { scope }).amount).toBe(500);
    await writer.archive(second.id, admin);
  });

  it('hands a package the reader of its own templates, checked against what the manager holds', async () => {
    const other = defineTemplate('test.reader_other', { type: 'setting', schema: v.number(), defaults: 1 });
    const manager = await make([dailyGift, other]);
    const reader = configReader(manager, [dailyGift]);
    expect(reader.get('gamification.daily_gift')).toEqual(manager.get('gamification.daily_gift'));
    const missing = defineTemplate('test.reader_missing', { type: 'setting', schema: v.number(), defaults: 2 });
    expect(await codeOf(Promise.resolve().then(() => configReader(manager, [dailyGift, missing])))).toBe(
      'E_CONFIG_USAGE',
    );
  });

  it('upserts templates with their JSON Schema for admin forms', async () => {
    await make(TEMPLATES);
    const [row] = await db.sql<{ json_schema: { properties: Record<string, unknown> }; type: string }[]>`
      select json_schema, type from config_templates where key = ${dailyGift.key}`;
    expect(row?.type).toBe('setting');
    expect(Object.keys(row?.json_schema.properties ?? {})).toEqual(['amount', 'streak_bonus']);
  });

  it('a periodic resync that fails warns once, is tried at each interval, and says when resyncs work again', async () => {
    const { destination, lines } = captureLogLines();
    const logger = createLogger({ level: 'debug', destination });
    const manager = createConfigManager({ resync_interval_ms: 20 }, { db, bus, templates: TEMPLATES, logger });
    managers.push(manager as never);
    await manager.start();
    const failed = 'periodic config resync failed; tried again at the next interval';
    const at = (level: string, msg: string) => lines.filter((line) => line.level === level && line.msg === msg);
    // the fault: the instances' table gone from under it (as PostgreSQL down would fail the read)
    await db.sql`alter table config_instances rename to config_instances_away`;
    try {
      expect(await until(() => at('debug', failed).length >= 2)).toBe(true);
    } finally {
      await db.sql`alter table config_instances_away rename to config_instances`;
    }
    expect(await until(() => at('info', 'periodic config resyncs work again').length === 1)).toBe(true);
    expect(at('warn', failed)).toHaveLength(1);
    expect(at('warn', failed)[0]?.err).toMatchObject({ message: expect.stringContaining('config_instances') });
    expect(at('info', 'periodic config resyncs work again')[0]?.failures).toBeGreaterThanOrEqual(3);
    const resyncs = manager.stats().resyncs;
    expect(await until(() => manager.stats().resyncs > resyncs + 1)).toBe(true); // and go on
    await manager.close();
  });
});
