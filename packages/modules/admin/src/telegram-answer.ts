// Telegram's own words for a failed call, as staff read them ("403: Forbidden: bot is not a member
// of the channel chat"), kept on a row and shown in /programados and /stats.
import { GrammyError } from 'grammy';
import { cutText } from './cut.js';

/** A failed call's code and description (or the error's message), at most 500 characters. */
export function telegramAnswer(error: unknown): string {
  return cutText(
    error instanceof GrammyError ? `${error.error_code}: ${error.description}` : String((error as Error).message),
    500,
  );
}
