// Screens that list what an admin configured (the shop, missions, achievements) can outgrow one
// Telegram message: their entries are packed into as few messages as fit, never cut.
import { checkHtml, TELEGRAM_LIMITS } from '@diana/security';

/** One message of a packed list: its HTML text and the entries it shows. */
export interface PackedMessage<T> {
  readonly text: string;
  readonly entries: readonly T[];
}

/**
 * `head`, then each entry's HTML (`render`), joined by `separator`, in as few messages as keep
 * each within Telegram's 4 096 characters once parsed; an entry is never split. The templates
 * bound every field, so the head and any one entry always fit a message together.
 */
export function packMessages<T>(
  head: string,
  entries: readonly T[],
  render: (entry: T) => string,
  separator = '\n',
): PackedMessage<T>[] {
  const messages: PackedMessage<T>[] = [];
  let text = head;
  let length = checkHtml(head).length;
  let group: T[] = [];
  for (const entry of entries) {
    const piece = render(entry);
    const size = checkHtml(piece).length;
    // markup balanced in each piece and a plain separator: lengths add up
    if (group.length > 0 && length + separator.length + size > TELEGRAM_LIMITS.message_text) {
      messages.push({ text, entries: group });
      text = piece;
      length = size;
      group = [entry];
    } else {
      if (text !== '') {
        text += separator;
        length += separator.length;
      }
      text += piece;
      length += size;
      group.push(entry);
    }
  }
  messages.push({ text, entries: group });
  return messages;
}
