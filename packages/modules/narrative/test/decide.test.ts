// The decision step alone: the same progress and button always give the same outcome.
import { describe, expect, it } from 'vitest';
import { applyDecision } from '../src/decide.js';
import { NARRATIVE_SLICE } from '../src/slices.js';
import type { Condition, Fragment } from '../src/story.js';

const fragment = (key: string, more: Partial<Fragment> = {}): Fragment => ({
  key,
  level: 1,
  narrator: 'lucien',
  kind: 'decision',
  text: key,
  decisions: [],
  ...more,
});
const hall = fragment('hall', {
  decisions: [
    {
      id: 'read',
      label: 'Leer',
      next: 'library',
      consequences: { flags: ['curious'], clues: ['letter'], variables: { trust: 2 }, mood: {}, reward: 5 },
    },
  ],
});
const library = fragment('library');
const vault = fragment('vault', { unlock: { has_clue: 'key' } as Condition });
const at = (current: string, more: object = {}) => ({ ...NARRATIVE_SLICE.initial, current, ...more });
const base = { gateOf: (f: Fragment) => f.unlock, holdOf: () => undefined, facts: { role: 'FREE' } };

describe('applyDecision', () => {
  it('moves on: fragment completed, decision recorded, consequences merged, new clues reported', () => {
    const decided = applyDecision(at('hall', { clues: ['old'], variables: { trust: 1 } }), {
      ...base,
      fragment: hall,
      target: library,
      decision: hall.decisions[0],
    });
    expect(decided.kind).toBe('applied');
    if (decided.kind !== 'applied') return;
    expect(decided.next).toMatchObject({
      current: 'library',
      completed: ['hall'],
      decisions: { hall: 'read' },
      flags: ['curious'],
      clues: ['old', 'letter'],
      variables: { trust: 3 },
    });
    expect(decided.found).toEqual(['letter']);
    // a clue already held is not found again
    const again = applyDecision(at('hall', { clues: ['letter'] }), {
      ...base,
      fragment: hall,
      target: library,
      decision: hall.decisions[0],
    });
    expect(again.kind === 'applied' && again.found).toEqual([]);
  });

  it('is stale when the reader is elsewhere (a double tap, an old message) and changes nothing', () => {
    expect(applyDecision(at('library'), { ...base, fragment: hall, target: library })).toEqual({ kind: 'stale' });
  });

  it('is locked by the target gate, or by the reader own fragment gate, naming what is missing', () => {
    const toVault = applyDecision(at('library'), { ...base, fragment: library, target: vault });
    expect(toVault.kind).toBe('locked');
    expect(toVault.kind === 'locked' && toVault.check.missing[0]).toMatch(/«key»/);
    const opened = applyDecision(at('library', { clues: ['key'] }), { ...base, fragment: library, target: vault });
    expect(opened.kind).toBe('applied');
    // a former VIP on a VIP fragment: what staying there needs is missing now
    const vipOnly = (f: Fragment): Condition | undefined => (f.key === 'library' ? { vip: true } : undefined);
    const own = applyDecision(at('library'), { ...base, holdOf: vipOnly, fragment: library, target: hall });
    expect(own.kind).toBe('locked');
  });

  it('the door a reader came through is not asked again on their way on (only what staying needs)', () => {
    // in the vault (its door took the key), the key since gone: moving on is not refused for it
    const onward = applyDecision(at('vault'), { ...base, fragment: vault, target: library });
    expect(onward.kind).toBe('applied');
    // before: the whole gate of the reader's own fragment was asked at every move
    const whole = applyDecision(at('vault'), { ...base, holdOf: (f) => f.unlock, fragment: vault, target: library });
    expect(whole.kind).toBe('locked');
  });
});
