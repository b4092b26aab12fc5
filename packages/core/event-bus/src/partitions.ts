// Partitions: one event type spread by key over N streams, each with its own hash tag, so a hot
// type spreads over the masters of a Redis Cluster. A key always maps to one partition (per-key
// order holds); partition 0 is the type's own stream, so with 1 partition nothing changes.
import { parseOrThrow } from '@diana/utils';
import * as v from 'valibot';
import { EVENT_BUS_ERROR_CODES } from './errors.js';

/** Most partitions one type may have. */
export const MAX_PARTITIONS = 256;

const TYPE = /^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$/;
const COUNT = v.pipe(
  v.union([v.number(), v.pipe(v.string(), v.regex(/^\s*\d+\s*$/), v.transform(Number))]),
  v.integer('must be a whole number'),
  v.minValue(1, 'must be at least 1'),
  v.maxValue(MAX_PARTITIONS, `must be at most ${MAX_PARTITIONS}`),
);

/**
 * Partitions per event type: `{ 'gamification.besitos_awarded': 4 }`, or from the environment
 * `gamification.besitos_awarded=4,user.state_changed=2`. A type not named has 1.
 */
export const PartitionsConfig = v.pipe(
  v.union([
    v.record(v.string(), v.unknown()),
    v.pipe(
      v.string(),
      v.transform((text) =>
        Object.fromEntries(
          text
            .split(',')
            .map((part) => part.trim())
            .filter((part) => part !== '')
            .map((part) => {
              const at = part.indexOf('=');
              return at < 0 ? [part, ''] : [part.slice(0, at).trim(), part.slice(at + 1).trim()];
            }),
        ),
      ),
    ),
  ]),
  v.record(v.pipe(v.string(), v.regex(TYPE, 'must be an event type (like module.event_name)')), COUNT),
);
/** Parsed `PartitionsConfig`: partitions by event type. */
export type PartitionsConfig = v.InferOutput<typeof PartitionsConfig>;

/** Validates partitions given in code (`E_BUS_CONFIG` naming the bad entry). */
export function parsePartitions(input: unknown): PartitionsConfig {
  if (input === undefined) return {};
  return parseOrThrow(PartitionsConfig, input, {
    code: EVENT_BUS_ERROR_CODES.BUS_CONFIG,
    message: 'invalid partitions (event type → 1 to 256)',
  });
}

/**
 * The partition of `key` among `count`: FNV-1a (32 bits) of its UTF-16 code units, modulo
 * `count`. Stable across processes and versions — changing it would move keys between partitions.
 */
export function partitionOf(key: string, count: number): number {
  if (count <= 1) return 0;
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % count;
}

/** The name of partition `p` of `type` inside its hash tag: the type itself for 0, `type#p` after. */
export function partitionName(type: string, p: number): string {
  return p === 0 ? type : `${type}#${p}`;
}

/** The type of a stream key of any prefix (`…{type}`, or `…{type#p}` for partition p). */
export function typeOfStreamKey(key: string): string {
  return parsePartitionName(key.slice(key.lastIndexOf('{') + 1, -1)).type;
}

/** The type and partition of a name made by `partitionName`. */
export function parsePartitionName(name: string): { type: string; partition: number } {
  const at = name.lastIndexOf('#');
  return at < 0 ? { type: name, partition: 0 } : { type: name.slice(0, at), partition: Number(name.slice(at + 1)) };
}

/**
 * A position in every partition of a type, as one string (broadcast and own-pending cursors are
 * one string per type): the ids joined by `,`; one id alone stands for every partition.
 */
export function splitPosition(position: string, count: number): string[] {
  const parts = position.split(',');
  return Array.from({ length: count }, (_, p) => parts[parts.length === 1 ? 0 : p] ?? '0-0');
}
