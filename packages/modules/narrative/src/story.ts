// The story as data: a validated file of levels, clues and fragments. Loading checks the
// schema, every link and that every fragment can be reached from the start; each problem is
// reported with its path.
import { TELEGRAM_LIMITS } from '@diana/security';
import { fromValibotIssues, type Issue, ValidationError } from '@diana/utils';
import * as v from 'valibot';
import { evaluate } from './conditions.js';
import { NARRATIVE_ERROR_CODES } from './errors.js';
import { FILES } from './files.js';
import { lockedText, longestMessage } from './render.js';

const KEY = v.pipe(v.string(), v.regex(/^[a-z0-9_]{1,40}$/, 'must be 1–40 of a-z 0-9 _'));
const DELTA = v.optional(v.pipe(v.number(), v.integer(), v.minValue(-100), v.maxValue(100)));

/** A tree of AND / OR over leaves: what unlocks a fragment. */
export type Condition =
  | { readonly all: readonly Condition[] }
  | { readonly any: readonly Condition[] }
  | { readonly vip: true }
  | { readonly role: string }
  | { readonly besitos_at_least: number }
  | { readonly has_item: string }
  | { readonly has_clue: string }
  | { readonly completed: string }
  | { readonly flag: string };

const ConditionSchema: v.GenericSchema<Condition> = v.union([
  v.strictObject({ all: v.pipe(v.array(v.lazy(() => ConditionSchema)), v.minLength(1)) }),
  v.strictObject({ any: v.pipe(v.array(v.lazy(() => ConditionSchema)), v.minLength(1)) }),
  v.strictObject({ vip: v.literal(true) }),
  v.strictObject({ role: v.picklist(['OWNER', 'ADMIN', 'MODERATOR', 'CONTENT_CREATOR', 'VIP', 'FREE']) }),
  v.strictObject({ besitos_at_least: v.pipe(v.number(), v.integer(), v.minValue(1)) }),
  v.strictObject({ has_item: KEY }),
  v.strictObject({ has_clue: KEY }),
  v.strictObject({ completed: KEY }),
  v.strictObject({ flag: KEY }),
]) as v.GenericSchema<Condition>;

const Consequences = v.strictObject({
  flags: v.optional(v.array(KEY), []),
  variables: v.optional(v.record(KEY, v.pipe(v.number(), v.integer(), v.minValue(-100), v.maxValue(100))), {}),
  mood: v.optional(v.strictObject({ interest: DELTA, trust: DELTA, vulnerability: DELTA }), {}),
  reward: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1_000)), 0),
  clues: v.optional(v.array(KEY), []),
});

const Decision = v.strictObject({
  id: KEY,
  label: v.pipe(v.string(), v.minLength(1), v.maxLength(60)),
  next: KEY,
  consequences: v.optional(Consequences, {}),
});

const Fragment = v.strictObject({
  key: KEY,
  level: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(6)),
  narrator: v.picklist(['lucien', 'diana']),
  kind: v.picklist(['story', 'decision']),
  text: v.pipe(v.string(), v.minLength(1), v.maxLength(3_500)),
  // what sendPhoto takes as a string: an http(s) URL Telegram fetches, or a file_id (base64url); a
  // local path or a typo would be refused by Telegram at every reader's send, so it is refused here
  media: v.optional(
    v.pipe(
      v.string(),
      v.maxLength(200),
      v.regex(/^(https?:\/\/\S+|[A-Za-z0-9_-]{20,})$/, 'must be an http(s) URL or a Telegram file_id'),
    ),
  ),
  next: v.optional(KEY),
  decisions: v.optional(v.pipe(v.array(Decision), v.maxLength(8)), []),
  unlock: v.optional(ConditionSchema),
});

/** The file's shape. */
export const StoryFile = v.strictObject({
  start: KEY,
  levels: v.pipe(
    v.array(
      v.strictObject({
        level: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(6)),
        title: v.pipe(v.string(), v.minLength(1), v.maxLength(80)),
        vip: v.boolean(),
      }),
    ),
    v.minLength(1),
  ),
  clues: v.optional(
    v.array(
      // bounded so that one clue always fits one /mochila message (backpackMessages)
      v.strictObject({
        key: KEY,
        title: v.pipe(v.string(), v.minLength(1), v.maxLength(80)),
        text: v.pipe(v.string(), v.minLength(1), v.maxLength(1_000)),
      }),
    ),
    [],
  ),
  fragments: v.pipe(v.array(Fragment), v.minLength(1)),
});

/** A fragment of the story. */
export type Fragment = v.InferOutput<typeof Fragment>;
/** A decision of a fragment. */
export type Decision = v.InferOutput<typeof Decision>;
/** A validated story, indexed. */
export interface Story {
  readonly start: string;
  readonly fragments: ReadonlyMap<string, Fragment>;
  readonly levels: ReadonlyMap<number, { readonly title: string; readonly vip: boolean }>;
  readonly clues: ReadonlyMap<string, { readonly title: string; readonly text: string }>;
}

// 64 bytes − 'nar.d||' − '~=' + 4-character user tag − 11 signature characters
const CALLBACK_ROOM = 64 - 7 - 6 - 11;

/** Code of a story that cannot be loaded (`NARRATIVE_ERROR_CODES.STORY_INVALID`). */
export const STORY_INVALID = NARRATIVE_ERROR_CODES.STORY_INVALID;

/**
 * Validates `file` and its links; throws a `ValidationError` `E_NARRATIVE_STORY_INVALID` listing every
 * problem with its path (schema errors, links to missing fragments or clues, duplicates,
 * fragments that cannot be reached from `start`, a fragment whose message can exceed Telegram's
 * 4 096 characters).
 */
export function loadStory(file: unknown): Story {
  const parsed = v.safeParse(StoryFile, file);
  if (!parsed.success) throw new ValidationError(STORY_INVALID, 'invalid story file', fromValibotIssues(parsed.issues));
  const data = parsed.output;
  const issues: Issue[] = [];
  const fragments = new Map<string, Fragment>();
  data.fragments.forEach((fragment, i) => {
    if (fragments.has(fragment.key))
      issues.push({ path: `fragments.${i}.key`, message: `duplicate fragment '${fragment.key}'` });
    fragments.set(fragment.key, fragment);
  });
  const levels = new Map(data.levels.map((l) => [l.level, { title: l.title, vip: l.vip }]));
  const clues = new Map(data.clues.map((c) => [c.key, { title: c.title, text: c.text }]));
  if (!fragments.has(data.start)) issues.push({ path: 'start', message: `no fragment '${data.start}'` });
  const checkCondition = (condition: Condition, path: string): void => {
    if ('all' in condition) for (const [i, c] of condition.all.entries()) checkCondition(c, `${path}.all.${i}`);
    else if ('any' in condition) for (const [i, c] of condition.any.entries()) checkCondition(c, `${path}.any.${i}`);
    else if ('completed' in condition && !fragments.has(condition.completed))
      issues.push({ path: `${path}.completed`, message: `no fragment '${condition.completed}'` });
    else if ('has_clue' in condition && !clues.has(condition.has_clue))
      issues.push({ path: `${path}.has_clue`, message: `no clue '${condition.has_clue}'` });
  };
  data.fragments.forEach((fragment, i) => {
    const path = `fragments.${i}`;
    if (!levels.has(fragment.level)) issues.push({ path: `${path}.level`, message: `no level ${fragment.level}` });
    if (fragment.kind === 'decision' && fragment.decisions.length === 0)
      issues.push({ path: `${path}.decisions`, message: 'a decision fragment needs decisions' });
    if (fragment.kind === 'story' && fragment.decisions.length > 0)
      issues.push({ path: `${path}.decisions`, message: 'a story fragment has no decisions (use next)' });
    if (fragment.next !== undefined && !fragments.has(fragment.next))
      issues.push({ path: `${path}.next`, message: `no fragment '${fragment.next}'` });
    const ids = new Set<string>();
    fragment.decisions.forEach((decision, j) => {
      // a button's signed data is 'nar.d|<fragment>|<decision>' + signature: it must fit 64 bytes
      if (fragment.key.length + decision.id.length > CALLBACK_ROOM)
        issues.push({
          path: `${path}.decisions.${j}.id`,
          message: `fragment key + decision id exceed ${CALLBACK_ROOM} characters`,
        });
      if (ids.has(decision.id))
        issues.push({ path: `${path}.decisions.${j}.id`, message: `duplicate decision '${decision.id}'` });
      ids.add(decision.id);
      if (!fragments.has(decision.next))
        issues.push({ path: `${path}.decisions.${j}.next`, message: `no fragment '${decision.next}'` });
      decision.consequences.clues.forEach((clue, k) => {
        if (!clues.has(clue))
          issues.push({ path: `${path}.decisions.${j}.consequences.clues.${k}`, message: `no clue '${clue}'` });
      });
    });
    if (fragment.unlock) checkCondition(fragment.unlock, `${path}.unlock`);
  });
  // reachability from the start
  const reached = new Set<string>();
  const queue = fragments.has(data.start) ? [data.start] : [];
  while (queue.length > 0) {
    const key = queue.pop() as string;
    if (reached.has(key)) continue;
    reached.add(key);
    const fragment = fragments.get(key);
    if (!fragment) continue;
    if (fragment.next) queue.push(fragment.next);
    for (const decision of fragment.decisions) queue.push(decision.next);
  }
  data.fragments.forEach((fragment, i) => {
    if (!reached.has(fragment.key))
      issues.push({
        path: `fragments.${i}`,
        message: `fragment '${fragment.key}' cannot be reached from '${data.start}'`,
      });
  });
  // every message a fragment can be sent as fits one Telegram message, measured as it is rendered
  // (the text, the free part's end naming every VIP title, the longest line before it)
  data.fragments.forEach((fragment, i) => {
    const length = longestMessage(fragment, levels);
    if (length > TELEGRAM_LIMITS.message_text)
      issues.push({
        path: `fragments.${i}.text`,
        message: `fragment '${fragment.key}' can be sent as a message of ${length} characters, over Telegram's ${TELEGRAM_LIMITS.message_text}: shorten it`,
      });
  });
  // and so does the lock message of its door, with every condition missing (before, a door of 40
  // clues loaded and then built a 5 947-character message Telegram refused)
  data.fragments.forEach((fragment, i) => {
    const length = longestLock(fragment, levels, clues);
    if (length > TELEGRAM_LIMITS.message_text)
      issues.push({
        path: `fragments.${i}.unlock`,
        message: `fragment '${fragment.key}' can be refused with a message of ${length} characters, over Telegram's ${TELEGRAM_LIMITS.message_text}: ask for fewer things`,
      });
  });
  if (issues.length > 0) throw new ValidationError(STORY_INVALID, 'invalid story file', issues);
  return Object.freeze({ start: data.start, fragments, levels, clues });
}

/** The story shipped with the package (`story/historia.json`, embedded by the build), validated. */
export function loadDefaultStory(): Story {
  return loadStory(JSON.parse(FILES.read('story/historia.json')));
}

/** A reader who has nothing: every condition of a door unmet (role below every role). */
const NOTHING = {
  role: '',
  besitos: 0,
  progress: { current: null, completed: [], decisions: {}, flags: [], variables: {}, clues: [], items: [] },
};

/** The longest lock message `fragment`'s door can produce (its unlock and, on a VIP level, VIP), every condition missing. */
function longestLock(
  fragment: Fragment,
  levels: ReadonlyMap<number, { readonly vip: boolean }>,
  clues: ReadonlyMap<string, { readonly title: string }>,
): number {
  const vipLevel = levels.get(fragment.level)?.vip === true;
  if (!fragment.unlock && !vipLevel) return 0;
  const gate: Condition = vipLevel
    ? fragment.unlock
      ? { all: [{ vip: true }, fragment.unlock] }
      : { vip: true }
    : (fragment.unlock as Condition);
  const check = evaluate(gate, { ...NOTHING, clueTitle: (key) => clues.get(key)?.title });
  return lockedText(check.missing, check.ways.includes('vip')).length;
}
