// Buttons that run a command. A command button's data is the signed action `cmd` with the
// command's name (bound to the user it was shown to); pressing it runs the bot's handlers on the
// same update turned into that command, so a button does exactly what typing the command does,
// whichever module answers it. The main menu is a grid of them.
import type { CallbackSigner } from '@diana/security';
import { isSignedAction } from '@diana/security/grammy';
import { Composer, Context } from 'grammy';
import type { InlineKeyboardButton, InlineKeyboardMarkup, Update } from 'grammy/types';
import { isUserCommand } from './commands.js';
import type { AppContext } from './middleware.js';
import { TEXTS } from './texts.js';

/** The signed action of a command button. */
export const COMMAND_ACTION = 'cmd';

/** The main menu's commands, row by row. */
export const MAIN_MENU: readonly (readonly string[])[] = Object.freeze([
  ['historia', 'mochila'],
  ['saldo', 'regalo'],
  ['tienda', 'misiones'],
  ['perfil'],
]);

/** A button that runs `/command` for the user it is shown to (`telegramId`). */
export function commandButton(
  signer: CallbackSigner,
  text: string,
  command: string,
  telegramId: number | undefined,
): InlineKeyboardButton.CallbackButton {
  return {
    text,
    callback_data: signer.sign(COMMAND_ACTION, [command], telegramId === undefined ? {} : { userId: telegramId }),
  };
}

/** The main menu as an inline keyboard for the user `telegramId`. */
export function mainMenu(signer: CallbackSigner, telegramId: number | undefined): InlineKeyboardMarkup {
  return {
    inline_keyboard: MAIN_MENU.map((row) =>
      row.map((command) => commandButton(signer, TEXTS.buttons[command] ?? `/${command}`, command, telegramId)),
    ),
  };
}

/**
 * A pressed command button runs `run(ctx, command)` (the bot's handlers on the update as that
 * command; only the catalog's user commands, staff commands are typed). The press is answered
 * once the command has run.
 */
export function commandButtons(run: (ctx: AppContext, command: string) => Promise<void>): Composer<AppContext> {
  const composer = new Composer<AppContext>();
  composer.filter(isSignedAction(COMMAND_ACTION), async (ctx) => {
    const command = ctx.signedCallback.args[0] ?? '';
    if (isUserCommand(command)) await run(ctx, command);
    await ctx.answerCallbackQuery();
  });
  return composer;
}

/**
 * The update of `ctx` as the user typing `/command [payload]` in their chat: a new context with
 * everything the app's middleware put on `ctx` (the user row, bound user state), so handlers run
 * as they do for a typed command (without passing the middleware again: it already ran).
 */
export function asCommand(ctx: AppContext, command: string, payload = ''): AppContext {
  const from = ctx.from;
  if (!from) throw new Error('a command needs a sender');
  const text = payload ? `/${command} ${payload}` : `/${command}`;
  const chat = ctx.callbackQuery?.message?.chat ??
    ctx.chat ?? { id: from.id, type: 'private' as const, first_name: from.first_name };
  const update = {
    update_id: ctx.update.update_id,
    message: {
      message_id: ctx.callbackQuery?.message?.message_id ?? ctx.message?.message_id ?? 0,
      date: Math.floor(Date.now() / 1_000),
      chat,
      from,
      text,
      entities: [{ type: 'bot_command', offset: 0, length: command.length + 1 }],
    },
  } as Update;
  const next = new Context(update, ctx.api, ctx.me) as AppContext;
  for (const [key, value] of Object.entries(ctx))
    if (!OWN.has(key)) (next as unknown as Record<string, unknown>)[key] = value;
  return next;
}

// what belongs to the update itself, not to the app's middleware
const OWN = new Set(['update', 'api', 'me', 'match', 'signedCallback']);
