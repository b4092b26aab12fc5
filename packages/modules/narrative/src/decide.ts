// The decision step, pure: given the reader's progress and what they pressed, the progress after
// it, or why nothing changes. No I/O: the module applies it inside the user-state update and
// publishes what it reports (tested alone in test/decide.test.ts).
import { type ConditionFacts, type Evaluation, evaluate } from './conditions.js';
import type { NarrativeProgress } from './slices.js';
import type { Condition, Decision, Fragment } from './story.js';

/** What pressing a button on fragment `from` does. */
export type Decided =
  | { readonly kind: 'stale' }
  | { readonly kind: 'locked'; readonly check: Evaluation }
  | { readonly kind: 'applied'; readonly next: NarrativeProgress; readonly found: readonly string[] };

export interface DecisionInput {
  /** The fragment the button was on, and the one it leads to. */
  readonly fragment: Fragment;
  readonly target: Fragment;
  /** The decision pressed; undefined for "continue". */
  readonly decision?: Decision;
  /** A fragment's whole gate: its own unlock condition and, on a VIP level, VIP status. */
  readonly gateOf: (fragment: Fragment) => Condition | undefined;
  /**
   * What staying on a fragment needs, checked again at each move from it: VIP status on a VIP
   * level. Its own unlock condition was met on the way in and is not asked again (a reader who
   * came through a door with 150 besitos and spent some was shut in before it).
   */
  readonly holdOf: (fragment: Fragment) => Condition | undefined;
  /** Role, besitos and titles, read before the update (the progress comes from `progress`). */
  readonly facts: Omit<ConditionFacts, 'progress'>;
}

const union = (a: readonly string[], b: readonly string[]) => [...new Set([...a, ...b])];

/**
 * Applies a decision to `progress`: `stale` when the reader is no longer on that fragment (a
 * double tap, an old message); `locked` when their own fragment's gate or the target's is shut
 * (nothing changes; for their own fragment, only what staying there needs); else the new progress — fragment completed, decision recorded, flags, clues
 * and variables of its consequences merged — and the clues found for the first time.
 */
export function applyDecision(progress: NarrativeProgress, input: DecisionInput): Decided {
  const { fragment, target, decision } = input;
  if (progress.current !== fragment.key) return { kind: 'stale' };
  // continuing a fragment needs what staying on it needs (a former VIP on a VIP fragment stops here)
  const own = evaluate(input.holdOf(fragment), { ...input.facts, progress });
  if (!own.ok) return { kind: 'locked', check: own };
  const consequences = decision?.consequences;
  const variables = { ...progress.variables };
  for (const [name, delta] of Object.entries(consequences?.variables ?? {}))
    variables[name] = (variables[name] ?? 0) + delta;
  const next: NarrativeProgress = {
    ...progress,
    current: target.key,
    completed: union(progress.completed, [fragment.key]),
    decisions: decision ? { ...progress.decisions, [fragment.key]: decision.id } : progress.decisions,
    flags: union(progress.flags, consequences?.flags ?? []),
    clues: union(progress.clues, consequences?.clues ?? []),
    variables,
  };
  const gate = evaluate(input.gateOf(target), { ...input.facts, progress: next });
  if (!gate.ok) return { kind: 'locked', check: gate };
  return { kind: 'applied', next, found: (consequences?.clues ?? []).filter((clue) => !progress.clues.includes(clue)) };
}
