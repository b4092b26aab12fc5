// Payment notices arrive at their own time (gamification's notices consumer), so a test that
// reads "the reply" leaves them out, and one that counts notices reads them alone.
import { NOTICE } from '../scripts/replay.js';

/** True for a payment notice's text. */
export const isNotice = (text: unknown): boolean => NOTICE.test(String(text));
