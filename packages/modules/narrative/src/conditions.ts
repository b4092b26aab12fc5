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
    return { ok: parts.every((p) => p.ok), missing: parts.flatMap((p) => p.missing), ways: ways(parts) };
  }
  if ('any' in condition) {
    const parts = condition.any.map((c) => evaluate(c, facts));
    const ok = parts.some((p) => p.ok);
    return ok
      ? { ok, missing: [], ways: [] }
      : { ok, missing: [TEXTS.missingAnyOf(parts.flatMap((p) => p.missing))], ways: ways(parts) };
  }
  const { progress } = facts;
  const leaf = (ok: boolean, text: string, way?: Way): Evaluation =>
    ok ? { ok, missing: [], ways: [] } : { ok, missing: [text], ways: way ? [way] : [] };
  if ('vip' in condition) return leaf(level(facts.role) >= level('VIP'), TEXTS.missingVip, 'vip');
  if ('role' in condition)
    return leaf(
      level(facts.role) >= level(condition.role),
      TEXTS.missingRole((ROLE_LABELS as Record<string, string>)[condition.role] ?? condition.role.toLowerCase()),
    );
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
