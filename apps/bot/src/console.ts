// The console chat: with no Telegram token, a person types as a Telegram user and sees the
// bot's replies. Buttons are numbered; typing the number presses it. `/as <id>` switches user.
// It drives the same bot through handleUpdate: only Telegram's servers are replaced.
import { createInterface } from 'node:readline';
import type { Transformer } from 'grammy';
import type { UserFromGetMe } from 'grammy/types';

export const CONSOLE_BOT: UserFromGetMe = {
  id: 1,
  is_bot: true,
  first_name: 'Diana',
  username: 'diana_console_bot',
  can_join_groups: false,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
} as UserFromGetMe;

const plain = (html: string) =>
  html
    .replace(/<[^>]+>/g, '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&');

/** The console's Bot API: prints what the bot sends and remembers the buttons to press. */
export function createConsole(output: NodeJS.WritableStream) {
  let buttons: string[] = [];
  let messageId = 0;
  const write = (line: string) => output.write(`${line}\n`);
  const transformer: Transformer = async (_prev, method, payload) => {
    const p = payload as Record<string, unknown>;
    if (method === 'sendMessage' || method === 'editMessageText') {
      write(`\n${plain(String(p.text ?? ''))}`);
      const rows = (
        (p.reply_markup as { inline_keyboard?: Array<Array<{ text: string; callback_data?: string }>> })
          ?.inline_keyboard ?? []
      ).flat();
      buttons = rows.map((b) => b.callback_data ?? '');
      for (const [i, b] of rows.entries()) write(`  [${i + 1}] ${b.text}`);
    } else if (method === 'answerCallbackQuery' && p.text) write(`  (${String(p.text)})`);
    messageId++;
    return {
      ok: true,
      result:
        method === 'sendMessage'
          ? {
              message_id: messageId,
              date: Math.floor(Date.now() / 1000),
              chat: { id: p.chat_id, type: 'private' },
              text: p.text,
            }
          : true,
    } as never;
  };
  return { transformer, button: (n: number) => buttons[n - 1] };
}

/** Reads lines from `input` until it ends; each becomes a Telegram update for `handleUpdate`. */
export async function runConsole(options: {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  handleUpdate: (update: import('grammy/types').Update) => Promise<void>;
  button: (n: number) => string | undefined;
}): Promise<void> {
  const write = (line: string) => options.output.write(`${line}\n`);
  let userId = 1_000_001;
  let updateId = 0;
  write(
    'DianaBot — consola. Escribe /start. Pulsa botones con su número. /as <id> cambia de usuario. Ctrl-D para salir.',
  );
  const lines = createInterface({ input: options.input, terminal: false });
  for await (const raw of lines) {
    const line = raw.trim();
    if (line === '') continue;
    const from = { id: userId, is_bot: false, first_name: `Usuario ${userId}`, language_code: 'es' };
    const chat = { id: userId, type: 'private' as const, first_name: from.first_name };
    const as = /^\/as\s+(\d{1,15})$/.exec(line);
    if (as) {
      userId = Number(as[1]);
      write(`(ahora eres el usuario ${userId})`);
      continue;
    }
    const pressed = /^\d{1,2}$/.test(line) ? options.button(Number(line)) : undefined;
    updateId++;
    if (pressed)
      await options.handleUpdate({
        update_id: updateId,
        callback_query: {
          id: String(updateId),
          from,
          chat_instance: 'console',
          data: pressed,
          message: { message_id: 1, date: 0, chat },
        },
      } as never);
    else {
      const command = line.startsWith('/') ? (line.split(/\s/)[0] ?? '').length : 0;
      await options.handleUpdate({
        update_id: updateId,
        message: {
          message_id: updateId,
          date: Math.floor(Date.now() / 1000),
          chat,
          from,
          text: line,
          ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command }] } : {}),
        },
      } as never);
    }
  }
}
