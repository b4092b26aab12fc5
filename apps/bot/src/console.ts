// The console chat: with no Telegram token, a person types as a Telegram user and sees the
// bot's replies as a Telegram client would show them. Each message with buttons gets a number;
// `2.1` presses message 2's first button (a bare `1` presses a button of the latest keyboard).
// A line ending in `\` goes on in the next one. `/as <id>` switches user.
// It drives the same bot through handleUpdate: only Telegram's servers are replaced.
import { createInterface } from 'node:readline';
import type { Transformer } from 'grammy';
import type { Update, UserFromGetMe } from 'grammy/types';
import { renderTelegramHtml } from './console-render.js';

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

export const CONSOLE_GREETING =
  'DianaBot — consola. Escribe /start. Pulsa un botón con su número: 1 (último teclado) o 2.1 (mensaje 2, botón 1).\n' +
  'Una línea que termina en \\ sigue en la siguiente. /as <id> cambia de usuario. Ctrl-D o Ctrl-C para salir.';

type Keyboard = Array<Array<{ text: string; callback_data?: string; url?: string }>>;

/** A button the console shows: its callback data, and the chat and message it is under. */
export interface PressedButton {
  readonly data: string;
  readonly chat_id: number;
  readonly message_id: number;
}

/** The console's Bot API: prints what the bot sends and remembers every keyboard shown. */
export function createConsole(output: NodeJS.WritableStream, options: { ansi?: boolean } = {}) {
  const keyboards = new Map<number, { readonly chat_id: number; readonly data: string[] }>();
  let latest: number | undefined;
  let messageId = 0;
  let inviteLinks = 0;
  // the user the console types as: a message to any other chat says where it went (a grant's
  // notice to its user, a delayed welcome, a channel post), or it reads as the typist's own
  let viewer: number | undefined;
  const write = (line: string) => output.write(`${line}\n`);
  const show = (id: number, p: Record<string, unknown>) => {
    const text = String(p.text ?? '');
    const body = p.parse_mode === 'HTML' ? renderTelegramHtml(text, { ansi: options.ansi ?? false }) : text;
    const rows = ((p.reply_markup as { inline_keyboard?: Keyboard } | undefined)?.inline_keyboard ?? []).flat();
    const to = Number(p.chat_id);
    const where =
      viewer === undefined || to === viewer ? '' : to < 0 ? `(en el canal ${to})\n` : `(al usuario ${to})\n`;
    write(`\n${where}${body}`);
    if (rows.length === 0) return;
    keyboards.set(id, { chat_id: to, data: rows.map((b) => b.callback_data ?? '') });
    latest = id;
    for (const [i, b] of rows.entries())
      write(b.url ? `  [${id}.${i + 1}] ${b.text} → ${b.url}` : `  [${id}.${i + 1}] ${b.text}`);
  };
  const transformer: Transformer = async (_prev, method, payload) => {
    const p = payload as Record<string, unknown>;
    let result: unknown = true;
    if (method === 'sendMessage') {
      messageId++;
      show(messageId, p);
      result = {
        message_id: messageId,
        date: Math.floor(Date.now() / 1000),
        chat: { id: p.chat_id, type: 'private' },
        text: p.text,
      };
    } else if (method === 'editMessageText') show(Number(p.message_id ?? messageId), p);
    else if (method === 'answerCallbackQuery' && p.text) write(`  (${String(p.text)})`);
    else if (method === 'createChatInviteLink') {
      // a VIP redeem shows the link it was given: one of the console's own (Telegram makes a real one)
      inviteLinks++;
      result = {
        invite_link: `https://t.me/+consola${inviteLinks}`,
        creator: CONSOLE_BOT,
        creates_join_request: false,
        is_primary: false,
        is_revoked: false,
        ...(typeof p.member_limit === 'number' ? { member_limit: p.member_limit } : {}),
      };
    } else if (method === 'banChatMember')
      // what no chat shows: an expired subscription's removal from the VIP channel
      write(`  (Telegram: el usuario ${String(p.user_id)} sale del canal ${String(p.chat_id)})`);
    else if (method === 'revokeChatInviteLink')
      // a member taken out, or sent a new link: the one before stops working
      write(`  (Telegram: la invitación ${String(p.invite_link)} queda anulada)`);
    return { ok: true, result } as never;
  };
  return {
    transformer,
    /** Who types now (`runConsole`'s `viewAs`): messages to other chats are labelled with theirs. */
    viewAs(user_id: number): void {
      viewer = user_id;
    },
    /**
     * Button `message.button` ("2.1"), or button `n` of the latest keyboard ("1"): its callback
     * data and the message it is under (a press of a channel post's button comes from the channel).
     */
    button(ref: string): PressedButton | undefined {
      const [message, button] = ref.includes('.') ? ref.split('.').map(Number) : [latest, Number(ref)];
      if (message === undefined || button === undefined) return undefined;
      const keyboard = keyboards.get(message);
      const data = keyboard?.data[button - 1];
      return keyboard && data ? { data, chat_id: keyboard.chat_id, message_id: message } : undefined;
    },
  };
}

/**
 * Reads lines from `input` until it ends; each message becomes a Telegram update for
 * `handleUpdate`. Resolves with how many lines it read.
 */
export async function runConsole(options: {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  handleUpdate: (update: Update) => Promise<void>;
  button: (ref: string) => PressedButton | undefined;
  /** Writes each line read as `> line` first (a replayed transcript shows what was typed). */
  echo?: boolean;
  /** Told the user typed as, at the start and at each `/as` (the console's `viewAs`). */
  viewAs?: (user_id: number) => void;
  /**
   * The first update's id, less one. Each run numbers its updates on from a base of its own: the
   * Redis dedupe remembers a handled `update_id` for a day, and a second run that counted from 1
   * again on the same Redis had every line ignored, silently. @default Date.now() × 1 000
   */
  update_id_base?: number;
}): Promise<{ readonly lines: number }> {
  const write = (line: string) => options.output.write(`${line}\n`);
  let userId = 1_000_001;
  // (a run started a millisecond later starts 1 000 ids further on; safe integers until 2255)
  let updateId = options.update_id_base ?? Date.now() * 1_000;
  let messageId = 0;
  let pending: string[] = [];
  options.viewAs?.(userId);
  write(CONSOLE_GREETING);
  const lines = createInterface({ input: options.input, terminal: false });
  let read = 0;
  for await (const raw of lines) {
    read++;
    if (options.echo) write(`> ${raw}`);
    if (raw.endsWith('\\')) {
      pending.push(raw.slice(0, -1));
      continue;
    }
    const text = [...pending, raw].join('\n').trim();
    pending = [];
    if (text === '') continue;
    const as = /^\/as(?:\s+(\S+))?$/.exec(text);
    if (as) {
      const id = /^\d{1,15}$/.test(as[1] ?? '') ? Number(as[1]) : 0;
      if (id > 0) {
        userId = id;
        options.viewAs?.(userId);
        write(`(ahora eres el usuario ${userId})`);
      } else write('(/as necesita un id de usuario: un número entero positivo, p. ej. /as 42)');
      continue;
    }
    const from = { id: userId, is_bot: false, first_name: `Usuario ${userId}`, language_code: 'es' };
    const chat = { id: userId, type: 'private' as const, first_name: from.first_name };
    const isButton = /^\d{1,3}(\.\d{1,2})?$/.test(text);
    const pressed = isButton ? options.button(text) : undefined;
    if (isButton && pressed === undefined) {
      write(`(no hay ningún botón ${text} en pantalla)`);
      continue;
    }
    updateId++;
    if (pressed)
      await options.handleUpdate({
        update_id: updateId,
        callback_query: {
          id: String(updateId),
          from,
          chat_instance: 'console',
          data: pressed.data,
          message: {
            message_id: pressed.message_id,
            date: 0,
            chat:
              pressed.chat_id === userId
                ? chat
                : pressed.chat_id < 0
                  ? { id: pressed.chat_id, type: 'channel', title: `Canal ${pressed.chat_id}` }
                  : { id: pressed.chat_id, type: 'private', first_name: `Usuario ${pressed.chat_id}` },
          },
        },
      } as Update);
    else {
      const command = text.startsWith('/') ? (text.split(/\s/)[0] ?? '').length : 0;
      await options.handleUpdate({
        update_id: updateId,
        message: {
          message_id: ++messageId,
          date: Math.floor(Date.now() / 1000),
          chat,
          from,
          text,
          ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command }] } : {}),
        },
      } as Update);
    }
  }
  return { lines: read };
}
