import { LRUCache } from 'lru-cache';
import type { CacheEntry } from './entry.js';

/** The in-process tier: an LRU bounded by entry count and serialized bytes, with a tag index. */
export interface L1 {
  get(key: string): CacheEntry | undefined;
  set(key: string, entry: CacheEntry): void;
  delete(key: string): boolean;
  /** Deletes every key carrying `tag`; returns how many. */
  deleteByTag(tag: string): number;
  /** Deletes every key starting with `prefix` (all when empty). */
  clear(prefix?: string): number;
  readonly size: number;
  readonly bytes: number;
  readonly evictions: number;
}

/** lru-cache does the eviction (by count and bytes); we keep tag → keys for invalidation. */
export function createL1(options: { max_entries: number; max_bytes: number }): L1 {
  const tags = new Map<string, Set<string>>();
  let evictions = 0;
  const unindex = (key: string, entry: CacheEntry) => {
    for (const tag of entry.tags) {
      const keys = tags.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) tags.delete(tag);
    }
  };
  const lru = new LRUCache<string, CacheEntry>({
    max: options.max_entries,
    maxSize: options.max_bytes,
    sizeCalculation: (entry) => Math.max(1, entry.bytes),
    dispose: (entry, key, reason) => {
      unindex(key, entry);
      if (reason === 'evict') evictions++;
    },
  });
  return {
    get: (key) => lru.get(key),
    set(key, entry) {
      // An entry larger than the whole budget is not kept (lru-cache would refuse it anyway).
      if (entry.bytes > options.max_bytes) {
        lru.delete(key);
        return;
      }
      lru.set(key, entry);
      for (const tag of entry.tags) {
        let keys = tags.get(tag);
        if (!keys) {
          keys = new Set();
          tags.set(tag, keys);
        }
        keys.add(key);
      }
    },
    delete: (key) => lru.delete(key),
    deleteByTag(tag) {
      const keys = [...(tags.get(tag) ?? [])];
      for (const key of keys) lru.delete(key);
      return keys.length;
    },
    clear(prefix = '') {
      let removed = 0;
      for (const key of [...lru.keys()]) {
        if (key.startsWith(prefix) && lru.delete(key)) removed++;
      }
      return removed;
    },
    get size() {
      return lru.size;
    },
    get bytes() {
      return lru.calculatedSize;
    },
    get evictions() {
      return evictions;
    },
  };
}
