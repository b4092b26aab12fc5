// Commands are case-insensitive: `/Saldo`, `/AYUDA` and `/Historia@DianaBot` run as `/saldo`,
// `/ayuda` and `/historia@DianaBot`. grammY matches commands case-sensitively, so the command
// itself (never its arguments: deep-link payloads and tokens keep their case) is lowercased in
// the update once, before any module sees it.
import type { Context, MiddlewareFn } from 'grammy';

/** Lowercases the leading bot command of a message's text. */
export function lowercaseCommands<C extends Context>(): MiddlewareFn<C> {
  return async (ctx, next) => {
    const message = ctx.message;
    const entity = message?.entities?.find((e) => e.type === 'bot_command' && e.offset === 0);
    if (message?.text && entity) {
      const command = message.text.slice(0, entity.length);
      const lower = command.toLowerCase();
      // same length in UTF-16, or the entity's offsets would no longer fit the text
      if (lower !== command && lower.length === command.length)
        (message as { text: string }).text = lower + message.text.slice(entity.length);
    }
    await next();
  };
}
