// The screens a user moves between and the signed buttons that lead from one to the next.
import type { CallbackSigner } from '@diana/security';
import type { ModuleContext } from '@diana/security/grammy';
import type { InlineKeyboardButton } from 'grammy/types';

/** The context the module's handlers run with (`ctx.user` is set by the app): the shared module flavor. */
export type GamificationContext = ModuleContext;

/** The screens a `gam.go` button opens (each also a command of the same name). */
export type ScreenName = 'saldo' | 'regalo' | 'tienda' | 'mochila' | 'misiones' | 'logros' | 'historial';

/** A screen: answers `user` in the chat of `ctx` (from a command or a button alike). */
export type Screen = (ctx: GamificationContext, user: { readonly id: string }) => Promise<unknown>;

export type Button = InlineKeyboardButton.CallbackButton;

/** The signed action of next-step buttons; its one argument is a `ScreenName`. */
export const STEP_ACTION = 'gam.go';

/** The signed action of `/historial`'s "older" button; its one argument is the page (1: movements 11–20). */
export const HISTORY_ACTION = 'gam.h';

/** The oldest page the button leads to (movements 491–500): past it, the ledger is an admin's to read. */
export const HISTORY_MAX_PAGE = 49;

export function createSteps(signer: CallbackSigner) {
  return {
    /** A next-step button, signed for the user it is shown to: a press opens `screen`. */
    go: (ctx: GamificationContext, screen: ScreenName, text: string): Button => ({
      text,
      callback_data: signer.sign(STEP_ACTION, [screen], { userId: ctx.from?.id }),
    }),
    keyboard: (rows: Button[][]) => ({ reply_markup: { inline_keyboard: rows } }),
  };
}
