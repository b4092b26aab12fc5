// Echoes of what someone typed, and previews of posts, are normalized (`normalizeText`: an ESC
// sequence staff typed, echoed, cleared and recoloured the console chat) and cut short; a cut by
// `slice` can fall between the two halves of a surrogate pair (an emoji), and Telegram refuses a
// text holding the lone half (not UTF-8). The limit stays in UTF-16 units, Telegram's own unit for
// lengths.
import { cutText as cutUnits, normalizeText } from '@diana/security';

/** `text` without control characters, cut to at most `max` UTF-16 units, never inside a surrogate pair. */
export function cutText(typed: string, max: number): string {
  return cutUnits(normalizeText(typed), max);
}

/** The first words of a post, on one line, at most 60 characters. */
export function preview(text: string): string {
  const line = text.replace(/\s+/g, ' ').trim();
  if (line.length <= 60) return line;
  const cut = cutText(line, 60);
  return `${cut.lastIndexOf(' ') > 20 ? cut.slice(0, cut.lastIndexOf(' ')) : cut}…`;
}
