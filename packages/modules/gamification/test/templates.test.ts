// The economy's templates as `/config set` checks them (checkTemplateValues, what a draft runs):
// what an admin can publish and what is refused with a field error.
import { checkTemplateValues } from '@diana/config';
import { describe, expect, it } from 'vitest';
import { ACHIEVEMENTS, ACHIEVEMENTS_MAX, MISSIONS, MISSIONS_MAX, SHOP, SHOP_MAX_ITEMS } from '../src/templates.js';

/** The issues of a refused value (`E_CONFIG_INVALID`), or the value when accepted. */
const refusal = (check: () => unknown) => {
  try {
    return { accepted: check() };
  } catch (error) {
    return error as { code?: string; issues?: { path: string; message: string; received?: string }[] };
  }
};

describe('ids are unique within a list', () => {
  const rose = (id: string, name: string, price: number) => ({ id, name, price });
  const mission = (id: string) => ({
    id,
    title: `Misión ${id}`,
    kind: 'daily',
    event: 'channel.reaction_added',
    target: 3,
    reward: 20,
  });
  const achievement = (id: string) => ({
    id,
    title: `Logro ${id}`,
    event: 'narrative.decision_made',
    threshold: 1,
    reward: 50,
  });

  it('a shop with two items of one id is refused, naming the repeated one (before: Rosa B could never be bought)', () => {
    const shop = [rose('rosa', 'Rosa A', 10), rose('lirio', 'Lirio', 15), rose('rosa', 'Rosa B', 20)];
    expect(refusal(() => checkTemplateValues(SHOP, shop))).toMatchObject({
      code: 'E_CONFIG_INVALID',
      issues: [{ path: '2.id', received: '"rosa"', message: expect.stringContaining('duplicate id "rosa"') }],
    });
    expect(checkTemplateValues(SHOP, shop.slice(0, 2))).toHaveLength(2);
  });

  it('missions and achievements with a repeated id are refused; distinct ones pass', () => {
    expect(refusal(() => checkTemplateValues(MISSIONS, [mission('a'), mission('b'), mission('a')]))).toMatchObject({
      code: 'E_CONFIG_INVALID',
      issues: [{ path: '2.id', received: '"a"' }],
    });
    expect(
      refusal(() => checkTemplateValues(ACHIEVEMENTS, [achievement('x'), achievement('x'), achievement('x')])),
    ).toMatchObject({
      code: 'E_CONFIG_INVALID',
      issues: [
        { path: '1.id', received: '"x"' },
        { path: '2.id', received: '"x"' },
      ],
    });
    expect(checkTemplateValues(MISSIONS, [mission('a'), mission('b')])).toHaveLength(2);
    expect(checkTemplateValues(ACHIEVEMENTS, [achievement('x'), achievement('y')])).toHaveLength(2);
  });

  it('the defaults pass their own checks', () => {
    for (const template of [SHOP, MISSIONS, ACHIEVEMENTS])
      expect(checkTemplateValues(template as never, template.defaults)).toEqual(template.defaults);
  });
});

describe('lists have a maximum, so their screens fit Telegram', () => {
  const n = (i: number) => String(i).padStart(3, '0');
  const items = (count: number) =>
    Array.from({ length: count }, (_, i) => ({ id: `i${n(i)}`, name: `Objeto ${i}`, price: 1 }));
  const missions = (count: number) =>
    Array.from({ length: count }, (_, i) => ({
      id: `m${n(i)}`,
      title: `Misión ${i}`,
      kind: 'weekly',
      event: 'narrative.decision_made',
      target: 1,
      reward: 1,
    }));
  const achievements = (count: number) =>
    Array.from({ length: count }, (_, i) => ({
      id: `a${n(i)}`,
      title: `Logro ${i}`,
      event: 'narrative.decision_made',
      threshold: 1,
      reward: 1,
    }));

  it('one more than the maximum is refused with a field error; the maximum passes', () => {
    const cases = [
      [SHOP, SHOP_MAX_ITEMS, items],
      [MISSIONS, MISSIONS_MAX, missions],
      [ACHIEVEMENTS, ACHIEVEMENTS_MAX, achievements],
    ] as const;
    for (const [template, max, list] of cases) {
      // before: 120 items were published, and /tienda failed for every user
      expect(
        refusal(() => checkTemplateValues(template as never, list(max + 1))),
        template.key,
      ).toMatchObject({
        code: 'E_CONFIG_INVALID',
        issues: [{ path: '', expected: `<=${max}`, received: String(max + 1) }],
      });
      expect(checkTemplateValues(template as never, list(max)), template.key).toHaveLength(max);
    }
    expect([SHOP_MAX_ITEMS, MISSIONS_MAX, ACHIEVEMENTS_MAX]).toEqual([50, 50, 50]);
  });
});
