import { type Clock, newId, SYSTEM_CLOCK } from '@diana/utils';
import { followsInGeneration, type SliceStore, type SliceWrite, type StoredSlice } from '../types.js';

interface Record {
  readonly generation: string;
  readonly version: number;
  readonly schema_version: number;
  readonly write_id: string;
  /** JSON, so every read hands out a fresh copy. */
  readonly json: string;
  readonly expires_at: number;
}

/**
 * Slices in this process's memory, with the semantics of the Redis store (generation tokens,
 * TTL from the last write) — the embedded default for ephemeral slices and the store of tests.
 * Expired records are dropped when touched and by a sweep every 1 000 writes.
 */
export function createMemorySliceStore(options: { clock?: Clock } = {}): SliceStore<undefined> {
  const clock = options.clock ?? SYSTEM_CLOCK;
  const records = new Map<string, Record>();
  const key = (user_id: string, slice: string) => `${user_id}\u0000${slice}`;
  let writes = 0;
  const live = (k: string): Record | undefined => {
    const record = records.get(k);
    if (record && record.expires_at <= clock.now()) {
      records.delete(k);
      return undefined;
    }
    return record;
  };
  const sweep = () => {
    const now = clock.now();
    for (const [k, record] of records) if (record.expires_at <= now) records.delete(k);
  };
  const toStored = (record: Record): StoredSlice => ({
    data: JSON.parse(record.json),
    version: record.version,
    schema_version: record.schema_version,
    write_id: record.write_id,
    token: `${record.generation}:${record.version}`,
  });

  return {
    name: 'memory',
    follows: followsInGeneration,
    async read(user_id, slice) {
      const record = live(key(user_id, slice));
      return record && toStored(record);
    },
    async readMany(user_id, slices) {
      const found = new Map<string, StoredSlice>();
      for (const slice of slices) {
        const record = live(key(user_id, slice));
        if (record) found.set(slice, toStored(record));
      }
      return found;
    },
    async write(user_id, slice, expected, value: SliceWrite) {
      const k = key(user_id, slice);
      const current = live(k);
      const token = current && `${current.generation}:${current.version}`;
      if (token !== expected) return undefined;
      const record: Record = {
        generation: current?.generation ?? newId(),
        version: (current?.version ?? 0) + 1,
        schema_version: value.schema_version,
        write_id: value.write_id,
        json: JSON.stringify(value.data),
        expires_at: value.ttl_ms === undefined ? Number.POSITIVE_INFINITY : clock.now() + value.ttl_ms,
      };
      records.set(k, record);
      if (++writes % 1_000 === 0) sweep();
      return toStored(record);
    },
  };
}
