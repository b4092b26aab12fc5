// Which facts a gate needs: the module reads the role and the besitos only when one does.
import { describe, expect, it } from 'vitest';
import { factsNeeded } from '../src/conditions.js';
import type { Condition } from '../src/story.js';

describe('factsNeeded', () => {
  it('needs nothing from outside the progress for no gate, or for progress-only leaves', () => {
    expect(factsNeeded()).toEqual({ role: false, besitos: false });
    expect(factsNeeded(undefined, { has_clue: 'key' }, { all: [{ flag: 'a' }, { completed: 'b' }] })).toEqual({
      role: false,
      besitos: false,
    });
  });

  it('finds the role (vip, role) and the besitos however deep they sit, in any of the gates', () => {
    expect(factsNeeded({ vip: true })).toEqual({ role: true, besitos: false });
    expect(factsNeeded({ any: [{ has_item: 'x' }, { all: [{ role: 'MODERATOR' }] }] })).toEqual({
      role: true,
      besitos: false,
    });
    expect(factsNeeded(undefined, { all: [{ flag: 'a' }, { any: [{ besitos_at_least: 10 }] }] } as Condition)).toEqual({
      role: false,
      besitos: true,
    });
    expect(factsNeeded({ has_clue: 'k' }, { all: [{ vip: true }, { besitos_at_least: 5 }] })).toEqual({
      role: true,
      besitos: true,
    });
  });
});
