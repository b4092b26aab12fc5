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

/** Whether `condition` holds, and if not, what is missing (one line per missing leaf, in Spanish). */
export function evaluate(condition: Condition | undefined, facts: ConditionFacts): { ok: boolean; missing: string[] } {
  if (!condition) return { ok: true, missing: [] };
  if ('all' in condition) {
    const parts = condition.all.map((c) => evaluate(c, facts));
    return { ok: parts.every((p) => p.ok), missing: parts.flatMap((p) => p.missing) };
  }
  if ('any' in condition) {
    const parts = condition.any.map((c) => evaluate(c, facts));
    const ok = parts.some((p) => p.ok);
    return { ok, missing: ok ? [] : [TEXTS.missingAnyOf(parts.flatMap((p) => p.missing))] };
  }
  const { progress } = facts;
  const leaf = (ok: boolean, text: string) => ({ ok, missing: ok ? [] : [text] });
  if ('vip' in condition) return leaf(level(facts.role) >= level('VIP'), TEXTS.missingVip);
  if ('role' in condition)
    return leaf(
      level(facts.role) >= level(condition.role),
      TEXTS.missingRole((ROLE_LABELS as Record<string, string>)[condition.role] ?? condition.role.toLowerCase()),
    );
  if ('besitos_at_least' in condition)
    return leaf((facts.besitos ?? 0) >= condition.besitos_at_least, TEXTS.missingBesitos(condition.besitos_at_least));
  if ('has_item' in condition)
    return leaf(progress.items.includes(condition.has_item), TEXTS.missingItem(condition.has_item));
  if ('has_clue' in condition)
    return leaf(
      progress.clues.includes(condition.has_clue),
      TEXTS.missingClue(facts.clueTitle?.(condition.has_clue) ?? condition.has_clue),
    );
  if ('completed' in condition)
    return leaf(progress.completed.includes(condition.completed), TEXTS.missingCompleted(condition.completed));
  return leaf(progress.flags.includes(condition.flag), TEXTS.missingFlag(condition.flag));
}
