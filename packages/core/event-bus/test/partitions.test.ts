import * as v from 'valibot';
import { describe, expect, it } from 'vitest';
import { EventBusConfig } from '../src/config.js';
import { parsePartitionName, parsePartitions, partitionName, partitionOf, splitPosition } from '../src/partitions.js';

describe('partitionOf', () => {
  it('is stable: the same key always lands on the same partition (values pinned: a change would move keys)', () => {
    expect([partitionOf('u1', 4), partitionOf('u2', 4), partitionOf('user-42', 4), partitionOf('', 4)]).toEqual([
      3, 2, 3, 1,
    ]);
    // FNV-1a 32 of "a" is 0xe40c292c
    expect(partitionOf('a', 1_000_000_007)).toBe(0xe40c292c % 1_000_000_007);
    expect(partitionOf('a', 4)).toBe(0xe40c292c % 4);
  });

  it('spreads keys over every partition, and 1 partition is always 0', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4_000; i++) {
      const p = partitionOf(`user:${i}`, 4);
      counts[p] = (counts[p] ?? 0) + 1;
    }
    for (const count of counts) expect(count).toBeGreaterThan(800);
    expect(partitionOf('anything', 1)).toBe(0);
  });
});

describe('partition names and positions', () => {
  it('partition 0 is the type itself; the others carry #p', () => {
    expect(partitionName('a.b', 0)).toBe('a.b');
    expect(partitionName('a.b', 3)).toBe('a.b#3');
    expect(parsePartitionName('a.b#3')).toEqual({ type: 'a.b', partition: 3 });
    expect(parsePartitionName('a.b')).toEqual({ type: 'a.b', partition: 0 });
  });

  it('one id stands for every partition; a joined position gives each its own', () => {
    expect(splitPosition('0-0', 3)).toEqual(['0-0', '0-0', '0-0']);
    expect(splitPosition('1-0,2-0,3-1', 3)).toEqual(['1-0', '2-0', '3-1']);
    expect(splitPosition('5-0', 1)).toEqual(['5-0']);
  });
});

describe('partitions config', () => {
  it('takes an object or the environment form, with 1 as the default of a type not named', () => {
    expect(parsePartitions({ 'a.b': 4 })).toEqual({ 'a.b': 4 });
    expect(parsePartitions(' a.b=4, c.d = 2 ')).toEqual({ 'a.b': 4, 'c.d': 2 });
    expect(parsePartitions(undefined)).toEqual({});
    expect(v.parse(EventBusConfig, {}).partitions).toEqual({});
    expect(v.parse(EventBusConfig, { partitions: 'a.b=8' }).partitions).toEqual({ 'a.b': 8 });
  });

  it.each([
    [{ 'a.b': 0 }],
    [{ 'a.b': 257 }],
    [{ 'a.b': 1.5 }],
    [{ 'a.b': 'four' }],
    [{ NotAType: 2 }],
    ['a.b'],
    ['a.b=x'],
    [42],
  ])('refuses %j with E_BUS_CONFIG', (input) => {
    expect(() => parsePartitions(input)).toThrow(expect.objectContaining({ code: 'E_BUS_CONFIG' }));
  });
});
