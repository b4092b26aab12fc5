// Telegram for in-process bot tests: a bot identity (so grammY needs no getMe), updates as
// Telegram sends them, and an API transformer that records every call instead of sending it.

/** What `getMe` would say: pass as grammY's `botInfo`. */
export const FAKE_BOT_INFO = Object.freeze({
  id: 1,
  is_bot: true as const,
  first_name: 'Diana',
  username: 'diana_bot',
  can_join_groups: false,
  can_read_all_group_messages: false,
  supports_inline_queries: false,
  can_connect_to_business: false,
  has_main_web_app: false,
  has_topics_enabled: false,
  allows_users_to_create_topics: false,
  can_manage_bots: false,
  supports_join_request_queries: false,
});

/** Builds updates with increasing `update_id`s: text messages (commands get their entity) and button presses. */
export function createUpdateFactory(first = 0) {
  let updateId = first;
  const from = (id: number) => ({ id, is_bot: false, first_name: `U${id}`, language_code: 'es' });
  const chat = (id: number) => ({ id, type: 'private', first_name: `U${id}` });
  return {
    /** `text` from user `tg` in their private chat; `/command` texts carry a bot_command entity. */
    message(tg: number, text: string, update_id = ++updateId) {
      const command = text.startsWith('/') ? (text.split(' ')[0] ?? '').length : 0;
      return {
        update_id,
        message: {
          message_id: update_id,
          date: 0,
          chat: chat(tg),
          from: from(tg),
          text,
          ...(command ? { entities: [{ type: 'bot_command', offset: 0, length: command }] } : {}),
        },
      };
    },
    /** User `tg` pressing a button with callback `data`. */
    press(tg: number, data: string) {
      const update_id = ++updateId;
      return {
        update_id,
        callback_query: {
          id: `q${update_id}`,
          from: from(tg),
          chat_instance: 'test',
          data,
          message: { message_id: 1, date: 0, chat: chat(tg) },
        },
      };
    },
  };
}

/** One Bot API call a bot made. */
export interface RecordedCall {
  readonly method: string;
  readonly payload: Record<string, unknown>;
}

/**
 * An API transformer (`bot.api.config.use(api.transformer)`) that records every call and
 * answers it as Telegram would (a message for sendMessage, an invite link for
 * createChatInviteLink, true otherwise), plus readers of what was sent.
 */
export function createRecordingApi() {
  const calls: RecordedCall[] = [];
  let messageId = 0;
  const sentTo = (chat: number) => calls.filter((c) => c.method === 'sendMessage' && c.payload.chat_id === chat);
  return {
    calls,
    transformer: async (_prev: unknown, method: string, payload: unknown) => {
      const p = (payload ?? {}) as Record<string, unknown>;
      calls.push({ method, payload: p });
      if (method === 'sendMessage')
        return {
          ok: true,
          result: { message_id: ++messageId, date: 0, chat: { id: p.chat_id, type: 'private' }, text: p.text },
        };
      if (method === 'createChatInviteLink')
        return { ok: true, result: { invite_link: `https://t.me/+invite${messageId++}` } };
      return { ok: true, result: true };
    },
    sentTo,
    /** The text of the last message sent to `chat`. */
    lastText: (chat: number) => String(sentTo(chat).at(-1)?.payload.text ?? ''),
    /** The buttons (label → callback data) of the last message with buttons sent to `chat`. */
    buttons(chat: number): Map<string, string> {
      const withButtons = sentTo(chat).filter(
        (c) =>
          ((c.payload.reply_markup as { inline_keyboard?: unknown[] } | undefined)?.inline_keyboard ?? []).length > 0,
      );
      const rows = (
        withButtons.at(-1)?.payload.reply_markup as
          | { inline_keyboard: Array<Array<{ text: string; callback_data?: string }>> }
          | undefined
      )?.inline_keyboard;
      return new Map((rows ?? []).flat().map((b) => [b.text, b.callback_data ?? '']));
    },
    /** The text of the last callback answer. */
    lastAnswer: () => calls.filter((c) => c.method === 'answerCallbackQuery').at(-1)?.payload.text,
  };
}
