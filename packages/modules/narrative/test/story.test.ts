import { readFileSync } from 'node:fs';
import { checkHtml, TELEGRAM_LIMITS } from '@diana/security';
import { isDianaError } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { evaluate } from '../src/conditions.js';
import { DEFAULT_STORY_FILE } from '../src/module.js';
import { backpackMessages } from '../src/render.js';
import { NARRATIVE_SLICE } from '../src/slices.js';
import { loadDefaultStory, loadStory } from '../src/story.js';

const shipped = JSON.parse(readFileSync(DEFAULT_STORY_FILE, 'utf8'));
const issuesOf = (file: unknown) => {
  try {
    loadStory(file);
    return [];
  } catch (error) {
    expect(isDianaError(error, 'E_NARRATIVE_STORY_INVALID')).toBe(true);
    return (error as { issues: Array<{ path: string; message: string }> }).issues;
  }
};

describe('the shipped story', () => {
  it('is what loadDefaultStory serves (the file at DEFAULT_STORY_FILE, which the build embeds)', () => {
    const story = loadDefaultStory();
    expect(story.start).toBe(shipped.start);
    expect([...story.fragments.keys()]).toEqual([...loadStory(shipped).fragments.keys()]);
  });

  it('loads: ≥ 12 fragments, levels 1–3 free and 4–6 VIP, each with fragments, Lucien and Diana, one clue-gated fragment', () => {
    const story = loadStory(shipped);
    expect(story.fragments.size).toBeGreaterThanOrEqual(12);
    expect([...story.levels].map(([level, l]) => [level, l.vip])).toEqual([
      [1, false],
      [2, false],
      [3, false],
      [4, true],
      [5, true],
      [6, true],
    ]);
    expect(new Set([...story.fragments.values()].map((f) => f.level))).toEqual(new Set([1, 2, 3, 4, 5, 6]));
    const narrators = new Set([...story.fragments.values()].map((f) => f.narrator));
    expect(narrators).toEqual(new Set(['lucien', 'diana']));
    // a clue alone opens the secret room; level 6 takes VIP and the diary or 150 besitos
    const gated = [...story.fragments.values()].filter((f) => f.unlock && 'has_clue' in f.unlock);
    expect(gated).toHaveLength(1);
    expect(story.fragments.get('l6_umbral')?.unlock).toEqual({
      all: [
        { any: [{ vip: true }, { role: 'ADMIN' }] },
        { any: [{ has_clue: 'diario_de_diana' }, { besitos_at_least: 150 }] },
      ],
    });
    const decisions = [...story.fragments.values()].flatMap((f) => f.decisions);
    expect(decisions.some((d) => d.consequences.flags.length > 0)).toBe(true);
    expect(decisions.some((d) => Object.keys(d.consequences.variables).length > 0)).toBe(true);
    expect(decisions.some((d) => Object.keys(d.consequences.mood).length > 0)).toBe(true);
  });
});

describe('loading an invalid story', () => {
  it('rejects links to missing fragments and unreachable fragments, naming each path', () => {
    const broken = structuredClone(shipped);
    broken.fragments[0].decisions[0].next = 'no_such_fragment';
    broken.fragments.push({ key: 'island', level: 1, narrator: 'lucien', kind: 'story', text: 'Nobody comes here.' });
    const issues = issuesOf(broken);
    expect(issues).toContainEqual({ path: 'fragments.0.decisions.0.next', message: "no fragment 'no_such_fragment'" });
    expect(issues.map((i) => i.path)).toContain(`fragments.${broken.fragments.length - 1}`);
  });

  it('rejects schema errors with their paths, unknown clues and decision ids too long for a button', () => {
    const broken = structuredClone(shipped);
    broken.fragments[1].narrator = 'the gardener';
    broken.fragments[2].decisions[0].consequences.clues = ['no_such_clue'];
    expect(issuesOf(broken).map((i) => i.path)).toContain('fragments.1.narrator');
    const clue = structuredClone(shipped);
    clue.fragments[2].decisions[0].consequences.clues = ['no_such_clue'];
    expect(issuesOf(clue)).toContainEqual({
      path: 'fragments.2.decisions.0.consequences.clues.0',
      message: "no clue 'no_such_clue'",
    });
    const long = structuredClone(shipped);
    long.fragments[0].decisions[0].id = 'd'.repeat(40);
    expect(issuesOf(long).map((i) => i.path)).toContain('fragments.0.decisions.0.id');
    // a fragment's media: a URL or a file_id, not a local path Telegram can never fetch
    const media = structuredClone(shipped);
    media.fragments[0].media = 'img/diana.jpg';
    media.fragments[1].media = 'https://example.com/diana.jpg';
    media.fragments[2].media = 'AgACAgQAAxkBAAIBY2Zs_aB-c1dXnQ';
    expect(issuesOf(media)).toEqual([
      expect.objectContaining({ path: 'fragments.0.media', message: 'must be an http(s) URL or a Telegram file_id' }),
    ]);
  });
});

describe('a fragment too long for one Telegram message', () => {
  // the free part's last fragment of a story with five VIP levels titled with 80 characters each:
  // its message (text, the offer naming every VIP title, the longest line before it) can exceed
  // Telegram's 4 096 although each field is within its own limit
  const story = (text: string) => ({
    start: 'a',
    levels: [1, 2, 3, 4, 5, 6].map((level) => ({ level, title: `Nivel ${level} `.padEnd(80, 'x'), vip: level > 1 })),
    fragments: [
      {
        key: 'a',
        level: 1,
        narrator: 'lucien',
        kind: 'decision',
        text: 'Inicio',
        decisions: [
          { id: 'fin', label: 'Fin', next: 'fin' },
          { id: 'vip', label: 'VIP', next: 'v2' },
        ],
      },
      { key: 'fin', level: 1, narrator: 'lucien', kind: 'story', text },
      ...[2, 3, 4, 5, 6].map((l) => ({
        key: `v${l}`,
        level: l,
        narrator: 'diana',
        kind: 'story',
        text: 'z',
        ...(l < 6 ? { next: `v${l + 1}` } : {}),
      })),
    ],
  });
  const lengthIn = (issues: Array<{ message: string }>) =>
    Number(/of (\d+) characters/.exec(issues[0]?.message ?? '')?.[1]);

  it('is refused with E_NARRATIVE_STORY_INVALID naming the fragment; as long as the limit allows, it loads', () => {
    const issues = issuesOf(story('y'.repeat(3_500)));
    expect(issues).toEqual([{ path: 'fragments.1.text', message: expect.stringContaining("fragment 'fin'") }]);
    const over = lengthIn(issues) - 4_096;
    expect(over).toBeGreaterThan(0);
    expect(issuesOf(story('y'.repeat(3_500 - over + 1)))).toHaveLength(1);
    expect(loadStory(story('y'.repeat(3_500 - over))).fragments.get('fin')?.text).toHaveLength(3_500 - over);
    // a fragment with no ending has room for the whole 3 500
    expect(issuesOf({ ...story('y'), levels: story('y').levels.map((l) => ({ ...l, vip: false })) })).toEqual([]);
  });

  it('counts as Telegram does once the HTML is parsed: an escaped & once, a character outside the BMP twice', () => {
    const plain = lengthIn(issuesOf(story('y'.repeat(3_500))));
    expect(plain).toBeGreaterThan(4_096);
    expect(lengthIn(issuesOf(story('&'.repeat(3_500))))).toBe(plain);
    expect(lengthIn(issuesOf(story('😀'.repeat(1_750))))).toBe(plain);
  });

  it('the shipped story fits', () => {
    expect(() => loadStory(shipped)).not.toThrow();
  });
});

describe('the backpack (/mochila)', () => {
  it('refuses a clue whose title or text could not fit one message', () => {
    const withClue = (title: string, text: string) => ({
      ...shipped,
      clues: [...shipped.clues, { key: 'larga', title, text }],
    });
    expect(issuesOf(withClue('t'.repeat(81), 'x')).map((i) => i.path)).toEqual([`clues.${shipped.clues.length}.title`]);
    expect(issuesOf(withClue('t', 'x'.repeat(1_001))).map((i) => i.path)).toEqual([
      `clues.${shipped.clues.length}.text`,
    ]);
    expect(issuesOf(withClue('t'.repeat(80), 'x'.repeat(1_000)))).toEqual([]);
  });

  it('sends many clues as several messages, each within the limit once parsed, every clue whole and in order', () => {
    const clues = Array.from({ length: 12 }, (_, i) => ({
      title: `Pista ${i} & <más>`,
      text: `${i} ${'&'.repeat(998)}`,
    }));
    const messages = backpackMessages(clues);
    expect(messages.length).toBeGreaterThanOrEqual(3);
    const parsed = messages.map((m) => checkHtml(m));
    for (const { length, problems } of parsed) {
      expect(problems).toEqual([]);
      expect(length).toBeLessThanOrEqual(TELEGRAM_LIMITS.message_text);
    }
    const all = parsed.map((p) => p.text).join('\n\n');
    const at = clues.map((c) => all.indexOf(c.title));
    expect(at.every((i) => i >= 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
    // a few clues: one message, as before
    expect(backpackMessages(clues.slice(0, 2))).toHaveLength(1);
  });
});

describe('unlock conditions', () => {
  const progress = { ...NARRATIVE_SLICE.initial, clues: ['llave'], completed: ['a'], flags: ['f'] };
  it('evaluates AND / OR trees and says what is missing', () => {
    expect(evaluate({ all: [{ has_clue: 'llave' }, { completed: 'a' }] }, { role: 'FREE', progress }).ok).toBe(true);
    const vip = evaluate({ all: [{ vip: true }, { flag: 'f' }] }, { role: 'FREE', progress });
    expect(vip).toEqual({ ok: false, missing: ['ser VIP (El Diván es solo para VIP)'], ways: ['vip'] });
    expect(evaluate({ any: [{ vip: true }, { role: 'ADMIN' }] }, { role: 'ADMIN', progress }).ok).toBe(true);
    const any = evaluate({ any: [{ vip: true }, { besitos_at_least: 50 }] }, { role: 'FREE', progress, besitos: 10 });
    expect(any.ok).toBe(false);
    expect(any.missing[0]).toContain('tener al menos 50 besitos');
    // where to get what is missing: VIP or besitos (an OR offers both); a clue or an object, the shop
    expect(any.ways).toEqual(['vip', 'besitos']);
    expect(evaluate({ has_clue: 'x' }, { role: 'FREE', progress }).ways).toEqual(['shop']);
    expect(evaluate({ completed: 'a' }, { role: 'FREE', progress }).ways).toEqual([]);
    expect(evaluate({ besitos_at_least: 1 }, { role: 'FREE', progress }).missing[0]).toContain('al menos 1 besito ');
    expect(evaluate({ has_item: 'rosa' }, { role: 'VIP', progress }).missing).toEqual([
      'el objeto «rosa» (mira la /tienda)',
    ]);
    expect(evaluate({ role: 'ADMIN' }, { role: 'VIP', progress }).missing).toEqual(['tener el rol «administrador»']);
    const titled = evaluate({ has_clue: 'espejo' }, { role: 'VIP', progress, clueTitle: () => 'El espejo roto' });
    expect(titled.missing[0]).toMatch(/^la pista «El espejo roto»: búscala/);
    const named = evaluate(
      { has_item: 'rosa_negra' },
      { role: 'VIP', progress, itemTitle: (k) => (k === 'rosa_negra' ? 'Rosa negra' : undefined) },
    );
    expect(named.missing).toEqual(['el objeto «Rosa negra» (mira la /tienda)']);
  });
});

describe("a door's lock message", () => {
  const clues = Array.from({ length: 40 }, (_, i) => ({
    key: `pista_${i}`,
    title: `${'Una pista muy larga y detallada '.repeat(3).slice(0, 75)} ${i}`,
    text: 'x',
  }));
  const door = (n: number) => ({
    start: 'k_a',
    levels: [{ level: 1, title: 'La casa', vip: false }],
    clues: clues.slice(0, n),
    fragments: [
      {
        key: 'k_a',
        level: 1,
        narrator: 'lucien',
        kind: 'decision',
        text: 'Una puerta.',
        decisions: [{ id: 'entrar', label: 'Entrar', next: 'k_b' }],
      },
      {
        key: 'k_b',
        level: 1,
        narrator: 'diana',
        kind: 'story',
        text: 'Dentro.',
        unlock: { all: clues.slice(0, n).map((c) => ({ has_clue: c.key })) },
      },
    ],
  });

  it('is measured at load with every condition missing: a door of 40 long-titled clues (5 947 characters) is refused with its path', () => {
    const issues = issuesOf(door(40));
    expect(issues).toHaveLength(1);
    expect(issues[0]?.path).toBe('fragments.1.unlock');
    expect(issues[0]?.message).toMatch(/k_b.*5947 characters/);
  });

  it('a door that fits loads (20 such clues)', () => {
    expect(issuesOf(door(20))).toEqual([]);
  });
});
