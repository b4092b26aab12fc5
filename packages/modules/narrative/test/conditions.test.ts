// Which facts a gate needs (the module reads the role and the besitos only when one does), and
// what a locked gate tells the reader.
import { describe, expect, it } from 'vitest';
import { evaluate, factsNeeded } from '../src/conditions.js';
import type { Condition } from '../src/story.js';
import { TEXTS } from '../src/texts.js';

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

describe('evaluate: what a locked gate tells the reader', () => {
  const progress = { completed: [], flags: [], clues: [], items: [] } as never;
  const missing = (condition: Condition, role = 'FREE', besitos = 0) =>
    evaluate(condition, { role: role as never, progress, besitos }).missing;

  it("says each missing thing once: a VIP level's gate around 'VIP or admin' names VIP once, and no staff role", () => {
    const vipOrAdmin: Condition = { any: [{ vip: true }, { role: 'ADMIN' }] };
    expect(missing({ all: [{ vip: true }, vipOrAdmin] })).toEqual([TEXTS.missingVip]);
    expect(missing(vipOrAdmin)).toEqual([TEXTS.missingVip]);
    expect(missing({ all: [{ vip: true }, { vip: true }] })).toEqual([TEXTS.missingVip]);
  });

  it('keeps the alternatives a reader can get, and a staff role when nothing else opens the gate', () => {
    expect(missing({ any: [{ has_clue: 'diario' }, { besitos_at_least: 150 }, { role: 'ADMIN' }] })).toEqual([
      TEXTS.missingAnyOf([TEXTS.missingClue('diario'), TEXTS.missingBesitos(150)]),
    ]);
    expect(missing({ any: [{ role: 'ADMIN' }] })).toEqual([TEXTS.missingRole('administrador')]);
    expect(missing({ all: [{ vip: true }, { any: [{ has_clue: 'diario' }, { besitos_at_least: 150 }] }] })).toEqual([
      TEXTS.missingVip,
      TEXTS.missingAnyOf([TEXTS.missingClue('diario'), TEXTS.missingBesitos(150)]),
    ]);
    expect(missing({ all: [{ vip: true }, { any: [{ vip: true }, { role: 'ADMIN' }] }] }, 'VIP')).toEqual([]);
  });
});
