// A fragment's message as the module sends it (narrator, text, the ending of the story's last
// fragments, the line before it), and the longest one a fragment can be sent as: loading a story
// measures that with this same code, so a story whose message Telegram would refuse never loads.
import { checkHtml, html, TELEGRAM_LIMITS } from '@diana/security';
import type { Fragment } from './story.js';
import { TEXTS } from './texts.js';

/** The story's levels by number, as `Story.levels` holds them. */
export type Levels = ReadonlyMap<number, { readonly title: string; readonly vip: boolean }>;

/** The lines `show` may put before a fragment (none, or one of these). */
export const PREFIXES = [TEXTS.welcome, TEXTS.resume, TEXTS.storyChanged] as const;
/** A line before a fragment's message. */
export type Prefix = (typeof PREFIXES)[number];

/** A fragment the story does not go on from: its message closes with an ending. */
export const isLast = (fragment: Fragment): boolean => fragment.kind === 'story' && !fragment.next;

/**
 * How a last fragment ends for a reader: `offer` where the free part ends (VIP levels lie beyond
 * and the reader is not VIP), else `end`.
 */
export function endingOf(fragment: Fragment, levels: Levels, vip: boolean): 'offer' | 'end' {
  const beyond = [...levels].some(([level, info]) => info.vip && level > fragment.level);
  return beyond && !vip ? 'offer' : 'end';
}

/** What a reader who is not VIP reads where the free story ends (`button`: the offer has one). */
export function freeEndText(levels: Levels, button: boolean): string {
  const titles = [...levels.values()].filter((l) => l.vip).map((l) => l.title);
  const vip = titles.length > 1 ? `${titles.slice(0, -1).join(', ')} y ${titles.at(-1)}` : (titles[0] ?? 'El Diván');
  return [TEXTS.freeEnd(vip), '', TEXTS.freeEndHow(button), '', TEXTS.freeEndKept].join('\n');
}

/**
 * What a reader reads at a closed door (plain text, no parse mode): what is missing, one line
 * each, then the way back or, when VIP is missing, how to become VIP.
 */
export function lockedText(missing: readonly string[], vip: boolean): string {
  return [TEXTS.locked, ...missing.map((m) => `• ${m}`), '', vip ? TEXTS.becomeVip : TEXTS.lockedWayBack].join('\n');
}

/** A fragment's message in HTML parse mode: the narrator, the text, then `ending`; `prefix` before it all. */
export function messageText(fragment: Fragment, ending?: string, prefix?: Prefix): string {
  const text = html`<b>${TEXTS.narrator[fragment.narrator] ?? fragment.narrator}</b>\n\n${fragment.text}${ending ? `\n\n${ending}` : ''}`;
  return prefix ? `${html`${prefix}`}\n\n${text}` : text;
}

/**
 * The longest message `fragment` can be sent as, in UTF-16 units once Telegram parses it (its
 * limit is 4 096): every prefix, and for a last fragment every ending (with and without the
 * offer's button).
 */
export function longestMessage(fragment: Fragment, levels: Levels): number {
  const endings = isLast(fragment)
    ? [
        TEXTS.theEnd,
        ...(endingOf(fragment, levels, false) === 'offer' ? [true, false].map((b) => freeEndText(levels, b)) : []),
      ]
    : [undefined];
  let longest = 0;
  for (const ending of endings)
    for (const prefix of [undefined, ...PREFIXES])
      longest = Math.max(longest, checkHtml(messageText(fragment, ending, prefix)).length);
  return longest;
}

/**
 * The backpack's clues (`/mochila`) as messages in HTML parse mode: the title, then as many whole
 * clues per message as fit Telegram's limit once parsed (a clue's title and text are bounded by
 * the story's schema, so one always fits). Many clues used to make one message Telegram refused.
 */
export function backpackMessages(clues: ReadonlyArray<{ readonly title: string; readonly text: string }>): string[] {
  const messages: string[] = [];
  let current = html`<b>${TEXTS.backpackTitle}</b>`;
  for (const clue of clues) {
    const entry = html`🗝 <b>${clue.title}</b>\n${clue.text}`;
    const joined = `${current}\n\n${entry}`;
    if (checkHtml(joined).length <= TELEGRAM_LIMITS.message_text) current = joined;
    else {
      messages.push(current);
      current = entry;
    }
  }
  messages.push(current);
  return messages;
}
