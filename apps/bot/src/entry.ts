// The ways into the bot that belong to no module: /ayuda (/help), /menu, a greeting for a new
// user's first message or a "hola", and the polite end of the line for whatever nobody handled —
// a `/start` deep link nobody owns starts the bot as a plain /start does.

import type { CallbackSigner } from '@diana/security';
import { oneLine, ROLE_LABELS } from '@diana/security';
import type { Logger } from '@diana/utils';
import { Composer } from 'grammy';
import { isStaff, USER_COMMANDS } from './commands.js';
import { mainMenu } from './main-menu.js';
import type { AppContext } from './middleware.js';
import { TEXTS } from './texts.js';

/** /ayuda, /help and /menu, each with the main menu under it. */
export function entryCommands(signer: CallbackSigner): Composer<AppContext> {
  const composer = new Composer<AppContext>();
  const menu = (ctx: AppContext) => ({ parse_mode: 'HTML' as const, reply_markup: mainMenu(signer, ctx.from?.id) });
  composer.command(['ayuda', 'help'], async (ctx) => {
    const role = ctx.user?.role ?? 'FREE';
    const lines = [
      TEXTS.helpTitle,
      '',
      ...USER_COMMANDS.map((c) => TEXTS.helpLine(c.command, c.description)),
      ...(isStaff(role) ? ['', TEXTS.helpStaff((ROLE_LABELS as Record<string, string>)[role] ?? role)] : []),
      '',
      TEXTS.helpFooter,
    ];
    await ctx.reply(lines.join('\n'), menu(ctx));
  });
  composer.command('menu', (ctx) => ctx.reply(TEXTS.menuTitle, menu(ctx)));
  return composer;
}

/**
 * Whatever no module handled: a deep link nobody owns runs `restart` (a plain /start), a new
 * user's first message (words, a sticker, a photo…) and greetings are greeted, anything else gets
 * the help line; each with the main menu. A button nobody handled (a stale one) is answered so the
 * client stops spinning.
 */
export function fallback(options: {
  signer: CallbackSigner;
  logger: Logger;
  /** Runs the bot's handlers on this update as a plain `/start`. */
  restart: (ctx: AppContext) => Promise<void>;
}): Composer<AppContext> {
  const composer = new Composer<AppContext>();
  const menu = (ctx: AppContext) => ({
    parse_mode: 'HTML' as const,
    reply_markup: mainMenu(options.signer, ctx.from?.id),
  });
  composer.command('start', async (ctx, next) => {
    const payload = typeof ctx.match === 'string' ? ctx.match : '';
    if (payload === '') return next();
    // e.g. t.me/<bot>?start=promo_instagram: counted in the logs, and the user starts as anyone does
    options.logger.info({ telegram_id: ctx.from?.id, payload: payload.slice(0, 64) }, 'deep link with no owner');
    await options.restart(ctx);
  });
  composer.on('message', async (ctx) => {
    const text = ctx.message.text;
    const command = ctx.message.entities?.some((e) => e.type === 'bot_command' && e.offset === 0);
    // on one line, without what shows nothing: as the stored name (see middleware.ts)
    const name = oneLine(ctx.from.first_name) || `usuario ${ctx.from.id}`;
    // a new user's first message is greeted whatever kind it is: a sticker or a photo too (they were
    // told "No te he entendido" before any welcome); a command nobody owns still gets the help line
    if (!command && ctx.firstContact) await ctx.reply(TEXTS.greeting(name), menu(ctx));
    else if (text !== undefined && !command && isGreeting(text)) await ctx.reply(TEXTS.greetingAgain(name), menu(ctx));
    else await ctx.reply(TEXTS.help, menu(ctx));
  });
  composer.on('callback_query', (ctx) => ctx.answerCallbackQuery());
  return composer;
}

const GREETING =
  /^(hola|holi|holis|ola|buenas|buenos dias|buenas tardes|buenas noches|buen dia|hey|hi|hello|saludos|que tal)( |$)/;

/** "¡Hola!", "buenas noches", "Qué tal": a greeting, accents and punctuation aside. */
export function isGreeting(text: string): boolean {
  const words = text
    .normalize('NFD')
    .replace(/\p{M}/gu, '')
    .toLowerCase()
    .replace(/[^a-z\s]/g, ' ')
    .trim()
    .replace(/\s+/g, ' ');
  return GREETING.test(words);
}
