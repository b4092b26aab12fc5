// @diana/db/testing: the DocumentStore conformance suite. It is the definition of the port:
// every adapter's tests call it. Needs vitest (an optional peer dependency).
import { randomBytes } from 'node:crypto';
import { isDianaError } from '@diana/utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type DocumentStore, MAX_DOCUMENT_BYTES } from './documents.js';

/** Runs the conformance suite against the store `setup` returns; `teardown` cleans up. */
export function describeDocumentStore(
  label: string,
  setup: () => Promise<DocumentStore>,
  teardown?: (store: DocumentStore) => Promise<void>,
): void {
  describe(`DocumentStore conformance: ${label}`, () => {
    let store: DocumentStore;
    // Unique collection names, so suites can share a database or server.
    const prefix = `c${randomBytes(4).toString('hex')}`;
    const coll = (name: string) => `${prefix}.${name}`;
    beforeAll(async () => {
      store = await setup();
    });
    afterAll(async () => {
      await teardown?.(store);
      await store?.close();
    });

    it('versions every write, starting at 1', async () => {
      expect(await store.get(coll('v'), 'a')).toBeUndefined();
      const first = await store.put(coll('v'), { id: 'a', data: { n: 1 } });
      expect(first).toMatchObject({ id: 'a', version: 1, data: { n: 1 } });
      expect(first.updated_at).toBeInstanceOf(Date);
      const second = await store.put(coll('v'), { id: 'a', data: { n: 2 } });
      expect(second.version).toBe(2);
      expect(await store.get(coll('v'), 'a')).toMatchObject({ id: 'a', version: 2, data: { n: 2 } });
    });

    it('refuses writes at the wrong expected version, leaving the document as it was', async () => {
      await store.put(coll('ev'), { id: 'x', data: { v: 'one' } }, { expectedVersion: 0 });
      const dup = await store
        .put(coll('ev'), { id: 'x', data: { v: 'dup' } }, { expectedVersion: 0 })
        .catch((e: unknown) => e);
      expect(isDianaError(dup, 'E_DB_VERSION_CONFLICT')).toBe(true);
      const ok = await store.put(coll('ev'), { id: 'x', data: { v: 'two' } }, { expectedVersion: 1 });
      expect(ok.version).toBe(2);
      const stale = await store
        .put(coll('ev'), { id: 'x', data: { v: 'stale' } }, { expectedVersion: 1 })
        .catch((e: unknown) => e);
      expect(isDianaError(stale, 'E_DB_VERSION_CONFLICT')).toBe(true);
      const missing = await store
        .put(coll('ev'), { id: 'nope', data: {} }, { expectedVersion: 3 })
        .catch((e: unknown) => e);
      expect(isDianaError(missing, 'E_DB_VERSION_CONFLICT')).toBe(true);
      expect(await store.get(coll('ev'), 'x')).toMatchObject({ version: 2, data: { v: 'two' } });
      expect(await store.get(coll('ev'), 'nope')).toBeUndefined();
    });

    it('lets exactly one of many concurrent writers at one expected version win', async () => {
      await store.put(coll('race'), { id: 'r', data: { winner: null } });
      const writers = 20;
      let arrived = 0;
      let release!: () => void;
      const barrier = new Promise<void>((resolve) => {
        release = resolve;
      });
      const results = await Promise.allSettled(
        Array.from({ length: writers }, async (_, i) => {
          if (++arrived === writers) release();
          await barrier;
          return store.put(coll('race'), { id: 'r', data: { winner: i } }, { expectedVersion: 1 });
        }),
      );
      const won = results.filter((r) => r.status === 'fulfilled');
      const lost = results.filter((r) => r.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost).toHaveLength(writers - 1);
      for (const r of lost)
        expect(isDianaError((r as PromiseRejectedResult).reason, 'E_DB_VERSION_CONFLICT')).toBe(true);
      const final = await store.get(coll('race'), 'r');
      expect(final?.version).toBe(2);
      expect(final?.data.winner).toBe(
        (won[0] as PromiseFulfilledResult<{ data: { winner: number } }>).value.data.winner,
      );
    });

    it('finds by top-level equality, sorted, limited', async () => {
      const c = coll('find');
      const docs: Array<{ id: string; data: Record<string, unknown> }> = [
        { id: 'f1', data: { level: 1, narrator: 'lucien', key: 'b', vip: false, note: null } },
        { id: 'f2', data: { level: 1, narrator: 'diana', key: 'a', vip: false, note: 'x' } },
        { id: 'f3', data: { level: 2, narrator: 'lucien', key: 'c', vip: true, note: null } },
        { id: 'f4', data: { level: 4, narrator: 'diana', key: 'd', vip: true } },
      ];
      for (const doc of docs) await store.put(c, doc);
      const ids = (rows: { id: string }[]) => rows.map((row) => row.id);
      expect(ids(await store.find(c, { where: { level: 1 } }))).toEqual(['f1', 'f2']);
      expect(ids(await store.find(c, { where: { narrator: 'lucien', vip: true } }))).toEqual(['f3']);
      expect(ids(await store.find(c, { where: { note: null } }))).toEqual(['f1', 'f3']);
      expect(ids(await store.find(c, { where: { level: 3 } }))).toEqual([]);
      expect(ids(await store.find(c, { where: { missing: 'x' } }))).toEqual([]);
      expect(ids(await store.find(c, { sort: [{ field: 'key' }] }))).toEqual(['f2', 'f1', 'f3', 'f4']);
      expect(ids(await store.find(c, { sort: [{ field: 'level', direction: 'desc' }, { field: 'key' }] }))).toEqual([
        'f4',
        'f3',
        'f2',
        'f1',
      ]);
      expect(ids(await store.find(c, { sort: [{ field: 'level' }], limit: 3 }))).toEqual(['f1', 'f2', 'f3']);
      expect(await store.find(coll('empty'))).toEqual([]);
    });

    it('deletes, honouring an expected version', async () => {
      const c = coll('del');
      await store.put(c, { id: 'd', data: { a: 1 } });
      await store.put(c, { id: 'd', data: { a: 2 } });
      const stale = await store.delete(c, 'd', { expectedVersion: 1 }).catch((e: unknown) => e);
      expect(isDianaError(stale, 'E_DB_VERSION_CONFLICT')).toBe(true);
      expect(await store.get(c, 'd')).toBeDefined();
      expect(await store.delete(c, 'd', { expectedVersion: 2 })).toBe(true);
      expect(await store.delete(c, 'd')).toBe(false);
      expect(await store.get(c, 'd')).toBeUndefined();
    });

    it('stores what JSON can say, nested values included', async () => {
      const data = {
        text: 'Diana 💋 «hola»',
        nested: { list: [1, 'two', { three: [3] }], empty: {} },
        when: new Date(0),
      };
      const stored = await store.put(coll('json'), { id: 'j', data });
      const expected = {
        text: 'Diana 💋 «hola»',
        nested: { list: [1, 'two', { three: [3] }], empty: {} },
        when: '1970-01-01T00:00:00.000Z',
      };
      expect(stored.data).toEqual(expected);
      expect((await store.get(coll('json'), 'j'))?.data).toEqual(expected);
    });

    it('keeps injection attempts as data in ids, values and queries', async () => {
      const c = coll('inj');
      const evil = "x'); drop table documents; --";
      await store.put(c, { id: evil, data: { name: evil, $where: '1 == 1' } });
      expect((await store.get(c, evil))?.data.name).toBe(evil);
      expect((await store.find(c, { where: { name: evil } })).map((d) => d.id)).toEqual([evil]);
      expect(await store.find(c, { where: { name: "' or '1'='1" } })).toEqual([]);
    });

    it('refuses malformed calls with E_DB_DOCUMENT_INVALID, writing nothing', async () => {
      const c = coll('bad');
      const attempts: Array<() => Promise<unknown>> = [
        () => store.put('bad name!', { id: 'a', data: {} }),
        () => store.put(c, { id: '', data: {} }),
        () => store.put(c, { id: 'a', data: [] as unknown as Record<string, unknown> }),
        () => store.put(c, { id: 'a', data: { n: Number.NaN } }),
        () => store.put(c, { id: 'a', data: {} }, { expectedVersion: -1 }),
        () => store.find(c, { where: { 'data->>0': 'x' } }),
        () => store.find(c, { sort: [{ field: 'a; drop' }] }),
        () => store.find(c, { limit: 0 }),
        // what PostgreSQL cannot hold, in any adapter: U+0000 and lone surrogates (in an id, a
        // value, a key, a query), and a document over MAX_DOCUMENT_BYTES
        () => store.put(c, { id: 'z\ud800', data: {} }),
        () => store.put(c, { id: 'z\u0000', data: {} }),
        () => store.put(c, { id: 'a', data: { s: 'nul\u0000' } }),
        () => store.put(c, { id: 'a', data: { deep: [{ s: '\udc00' }] } }),
        () => store.put(c, { id: 'a', data: { 'k\ud83d': 1 } }),
        () => store.find(c, { where: { s: 'x\u0000' } }),
        () => store.put(c, { id: 'a', data: { s: 'x'.repeat(MAX_DOCUMENT_BYTES) } }),
      ];
      for (const [index, attempt] of attempts.entries()) {
        const error = await attempt().catch((e: unknown) => e);
        expect(isDianaError(error, 'E_DB_DOCUMENT_INVALID'), `attempt ${index}: ${String(error)}`).toBe(true);
      }
      expect(await store.find(c)).toEqual([]);
    });

    it('keeps collections apart', async () => {
      await store.put(coll('one'), { id: 'same', data: { from: 'one' } });
      await store.put(coll('two'), { id: 'same', data: { from: 'two' } });
      expect((await store.get(coll('one'), 'same'))?.data.from).toBe('one');
      expect((await store.get(coll('two'), 'same'))?.data.from).toBe('two');
    });
  });
}
