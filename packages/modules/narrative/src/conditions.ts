import { ROLE_LABELS } from '@diana/security';
import type { NarrativeProgress } from './slices.js';
import type { Condition } from './story.js';
import { TEXTS } from './texts.js';

/** What conditions are evaluated against. */
export interface ConditionFacts {
  readonly role: string;
  readonly progress: NarrativeProgress;
  /** The user's besitos, when the app can tell (otherwise besitos conditions are unmet). */
  readonly besitos?: number;
  /** A clue's title as the reader knows it (the story's); the key when absent. */
  readonly clueTitle?: (key: string) => string | undefined;
  /** An object's name as the reader knows it (the shop's); the key when absent. */
  readonly itemTitle?: (key: string) => string | undefined;
}

const LEVELS: Record<string, number> = {
  OWNER: 1000,
  ADMIN: 800,
  MODERATOR: 600,
  CONTENT_CREATOR: 400,
  VIP: 200,
  FREE: 100,
};
const level = (role: string) => LEVELS[role] ?? 0;

/** Where the reader can get something missing: becoming VIP, the shop, more besitos. */
export type Way = 'vip' | 'shop' | 'besitos';

/** An evaluation: whether it holds; if not, what is missing (one Spanish line per missing leaf) and where to get it. */
export interface Evaluation {
  readonly ok: boolean;
  readonly missing: string[];
  readonly ways: Way[];
  /** An unmet `any`: its alternatives' lines (met by any one of them). */
  readonly anyOf?: string[];
  /** An unmet role leaf: a role a reader is given, never one they can go and get. */
  readonly role?: true;
}

/**
 * Which facts read from outside the progress some `conditions` can look at: the role (`vip`,
 * `role`) and the besitos (`besitos_at_least`). A fact no condition needs is not read.
 */
export function factsNeeded(...conditions: ReadonlyArray<Condition | undefined>): { role: boolean; besitos: boolean } {
  const needed = { role: false, besitos: false };
  const visit = (condition: Condition | undefined): void => {
    if (!condition) return;
    if ('all' in condition) condition.all.forEach(visit);
    else if ('any' in condition) condition.any.forEach(visit);
    else if ('vip' in condition || 'role' in condition) needed.role = true;
    else if ('besitos_at_least' in condition) needed.besitos = true;
  };
  conditions.forEach(visit);
  return needed;
}

/** Whether `condition` holds, and if not, what is missing and the ways to get it. */
export function evaluate(condition: Condition | undefined, facts: ConditionFacts): Evaluation {
  if (!condition) return { ok: true, missing: [], ways: [] };
  const ways = (parts: Evaluation[]) => [...new Set(parts.flatMap((p) => p.ways))];
  if ('all' in condition) {
    const parts = condition.all.map((c) => evaluate(c, facts));
    // a line listed once; an `any` one of whose alternatives is listed on its own goes (meeting
    // that line meets it too): a VIP level's gate around "VIP or admin" said "ser VIP" twice
    const plain = new Set(parts.filter((p) => !p.anyOf).flatMap((p) => p.missing));
    const missing = [
      ...new Set(parts.filter((p) => !p.anyOf?.some((line) => plain.has(line))).flatMap((p) => p.missing)),
    ];
    return { ok: parts.every((p) => p.ok), missing, ways: ways(parts) };
  }
  if ('any' in condition) {
    const parts = condition.any.map((c) => evaluate(c, facts));
    if (parts.some((p) => p.ok)) return { ok: true, missing: [], ways: [] };
    // a reader is not offered a staff role as a way in, unless nothing else opens it
    const offered = parts.some((p) => !p.role) ? parts.filter((p) => !p.role) : parts;
    const lines = [...new Set(offered.flatMap((p) => p.missing))];
    return {
      ok: false,
      missing: lines.length === 1 ? lines : [TEXTS.missingAnyOf(lines)],
      ways: ways(offered),
      anyOf: lines,
    };
  }
  const { progress } = facts;
  const leaf = (ok: boolean, text: string, way?: Way): Evaluation =>
    ok ? { ok, missing: [], ways: [] } : { ok, missing: [text], ways: way ? [way] : [] };
  if ('vip' in condition) return leaf(level(facts.role) >= level('VIP'), TEXTS.missingVip, 'vip');
  if ('role' in condition) {
    const met = leaf(
      level(facts.role) >= level(condition.role),
      TEXTS.missingRole((ROLE_LABELS as Record<string, string>)[condition.role] ?? condition.role.toLowerCase()),
    );
    return met.ok ? met : { ...met, role: true };
  }
  if ('besitos_at_least' in condition)
    return leaf(
      (facts.besitos ?? 0) >= condition.besitos_at_least,
      TEXTS.missingBesitos(condition.besitos_at_least),
      'besitos',
    );
  if ('has_item' in condition)
    return leaf(
      progress.items.includes(condition.has_item),
      TEXTS.missingItem(facts.itemTitle?.(condition.has_item) ?? condition.has_item),
      'shop',
    );
  if ('has_clue' in condition)
    return leaf(
      progress.clues.includes(condition.has_clue),
      TEXTS.missingClue(facts.clueTitle?.(condition.has_clue) ?? condition.has_clue),
      'shop',
    );
  if ('completed' in condition)
    return leaf(progress.completed.includes(condition.completed), TEXTS.missingCompleted(condition.completed));
  return leaf(progress.flags.includes(condition.flag), TEXTS.missingFlag(condition.flag));
}
