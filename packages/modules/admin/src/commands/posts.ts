// Scheduled posts: /programar stores one, /programados lists the pending ones and those that
// failed in the last 7 days, /cancelar_post cancels one that has not been claimed for publishing
// (the jobs loop publishes them, and tells a failed one's creator).
import { atLeast, normalizeText } from '@diana/security';
import { isDianaError, newId } from '@diana/utils';
import type { Composer } from 'grammy';
import { cutText, preview } from '../cut.js';
import { ADMIN_ERROR_CODES, parseTelegramId } from '../ids.js';
import type { AdminContext, AdminKit, AdminSettings } from '../kit.js';
import { MESSAGE_LIMIT } from '../paging.js';
import { TEXTS } from '../texts.js';
import { formatHumanMoment, formatLocalTime, parseLocalTime } from '../time.js';

/** How a post is named to staff: the last 8 hex digits of its id (the first ones are its time). */
export const shortPostId = (id: string) => id.replace(/-/g, '').slice(-8);

/** How long /programados shows a failed post, counted from its publish time: 7 days. */
export const FAILED_POSTS_SHOWN_MS = 7 * 86_400_000;
/** How much of Telegram's refusal staff are shown (the row keeps up to 500 characters). */
export const FAILURE_SHOWN = 120;

/** How staff read a post's chat: the main channel, the VIP channel, or the chat's id. */
export const postChannelLabel = (settings: AdminSettings, channel: string) =>
  TEXTS.postChannel(channel, channel === String(settings.main_channel_id), channel === String(settings.vip_channel_id));

export function registerPosts(composer: Composer<AdminContext>, kit: AdminKit): void {
  const { settings, db, clock } = kit;
  // the configured channels: a CONTENT_CREATOR posts there only, other chats need ADMIN
  const postChannels = new Set(
    [settings.main_channel_id, settings.vip_channel_id, ...(settings.post_channel_ids ?? [])].filter(
      (id): id is number => id !== undefined,
    ),
  );
  const mayUse = (ctx: AdminContext, channel: number) =>
    postChannels.has(channel) || atLeast(kit.actorRole(ctx), 'ADMIN');

  // /programar YYYY-MM-DD HH:MM [chat id] text, then optional button lines "[label](https://…)"
  composer.command(
    'programar',
    kit.guarded('publish_content', async (ctx) => {
      // each refusal names its real reason, and all come before anything is stored
      const text = typeof ctx.match === 'string' ? ctx.match : '';
      const match = /^(\d{4}-\d{2}-\d{2} \d{2}:\d{2})(?:\s+([\s\S]*))?$/.exec(text.trim());
      const at = match ? parseLocalTime(match[1] as string, settings.timezone) : undefined;
      if (!match || !at) return ctx.reply(TEXTS.badTime);
      if (at.getTime() <= clock.now()) return ctx.reply(TEXTS.pastTime(formatLocalTime(at, settings.timezone)));
      // "-5 grados esta noche…" is text: a leading number is the chat id only when it is long
      // enough to be one, or a configured channel's (short ids such as -1002: tests, the console)
      const chatId = /^-?\d+(?=\s|$)/.exec(match[2] ?? '')?.[0];
      const isChat = chatId !== undefined && (/^-?\d{5,}$/.test(chatId) || postChannels.has(Number(chatId)));
      const rest = isChat ? (match[2] ?? '').slice(chatId.length).trim() : (match[2] ?? '');
      let channel = settings.main_channel_id;
      if (isChat) {
        try {
          channel = parseTelegramId(chatId);
        } catch (error) {
          if (isDianaError(error, ADMIN_ERROR_CODES.BAD_ID)) return ctx.reply(TEXTS.badChatId);
          throw error;
        }
      }
      if (channel === undefined) return ctx.reply(TEXTS.noMainChannel);
      if (!mayUse(ctx, channel)) return ctx.reply(TEXTS.channelForbidden);
      // the post's text normalized where it is read: its lines and tabs kept, no control
      // character nor bidi override reaches the channel
      const { body, buttons } = splitButtons(normalizeText(rest));
      if (body.length === 0) return ctx.reply(TEXTS.noPostText);
      if (body.length > MESSAGE_LIMIT) return ctx.reply(TEXTS.postTooLong(body.length, MESSAGE_LIMIT));
      await db.transaction(async (tx) => {
        const id = newId();
        await tx`insert into admin_scheduled_posts (id, channel_id, text, buttons, publish_at, status, created_by)
                 values (${id}, ${String(channel)}, ${body}, ${JSON.stringify(buttons)}::text::jsonb, ${at}, 'pending', ${kit.actorOf(ctx)})`;
        await kit.audit({
          actor: kit.actorOf(ctx),
          action: 'schedule_post',
          target: id,
          details: { publish_at: at.toISOString(), channel: String(channel) },
          // the same update sent again schedules nothing more (the post's insert rolls back)
          update_id: kit.updateOf(ctx),
        });
      });
      await ctx.reply(TEXTS.scheduled(formatLocalTime(at, settings.timezone)));
    }),
  );

  // pending posts, then those that failed with a time in the last FAILED_POSTS_SHOWN_MS (their
  // creator was told once; here any staff member sees them until they age out)
  composer.command(
    'programados',
    kit.guarded('publish_content', async (ctx) => {
      type Row = { id: string; channel_id: string; text: string; publish_at: Date; error: string | null };
      // each its own query: failed ones (in the past) never crowd pending ones out of the limit
      const pending = await db.sql<Row[]>`
        select id, channel_id, text, publish_at, error from admin_scheduled_posts
        where status = 'pending' order by publish_at, id limit 50`;
      const failed = await db.sql<Row[]>`
        select id, channel_id, text, publish_at, error from admin_scheduled_posts
        where status = 'failed' and publish_at > ${new Date(clock.now() - FAILED_POSTS_SHOWN_MS)}
        order by publish_at, id limit 20`;
      if (pending.length === 0 && failed.length === 0) return ctx.reply(TEXTS.noPendingPosts);
      const line = (p: Row) =>
        TEXTS.postLine(
          shortPostId(p.id),
          postChannelLabel(settings, p.channel_id),
          formatLocalTime(p.publish_at, settings.timezone),
          preview(p.text),
        );
      const sections = [
        ...(pending.length > 0 ? [TEXTS.pendingPosts(pending.length), ...pending.map(line)] : []),
        ...(failed.length > 0
          ? [
              TEXTS.failedPosts(failed.length),
              ...failed.map((p) => TEXTS.failedPostLine(line(p), cutText(p.error ?? '', FAILURE_SHOWN))),
            ]
          : []),
      ];
      await kit.replyPaged(ctx, sections.join('\n'));
    }),
  );

  composer.command(
    'cancelar_post',
    kit.guarded('publish_content', async (ctx, [ref]) => {
      if (!ref) return ctx.reply(TEXTS.usage(TEXTS.help.cancelar_post?.[0] ?? '/cancelar_post <id>'));
      const wanted = ref.toLowerCase();
      const full = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(wanted);
      if (!full && !/^[0-9a-f]{8}$/.test(wanted)) return ctx.reply(TEXTS.badPostId(cutText(ref, 40)));
      const outcome = await db.transaction(async (tx) => {
        const rows = await tx<{ id: string; status: string; channel_id: string; publish_at: Date }[]>`
          select id, status, channel_id, publish_at from admin_scheduled_posts
          where ${full ? tx`id = ${wanted}` : tx`replace(id::text, '-', '') like ${`%${wanted}`}`}
          order by created_at desc limit 2 for update`;
        const post = rows[0];
        if (!post) return TEXTS.noSuchPost(wanted);
        // two posts sharing 8 random hex digits: vanishingly rare; name the full id then
        if (rows.length > 1) return TEXTS.badPostId(cutText(ref, 40));
        const short = shortPostId(post.id);
        if (post.status !== 'pending') return TEXTS.postNotPending(short, post.status);
        if (!mayUse(ctx, Number(post.channel_id))) return TEXTS.postCancelForbidden;
        await tx`update admin_scheduled_posts set status = 'cancelled' where id = ${post.id}`;
        await kit.audit({ actor: kit.actorOf(ctx), action: 'cancel_post', target: post.id });
        return TEXTS.postCancelled(short, formatHumanMoment(post.publish_at, settings.timezone, kit.now()));
      });
      await ctx.reply(outcome);
    }),
  );
}

/** Splits trailing lines "[label](https://…)" off a post: the text and its URL buttons (at most 8). */
export function splitButtons(text: string): { body: string; buttons: Array<{ text: string; url: string }> } {
  const lines = text.split('\n');
  const buttons: Array<{ text: string; url: string }> = [];
  while (lines.length > 0) {
    const button = /^\[([^\]]{1,60})\]\((https:\/\/[^\s)]{1,500})\)$/.exec((lines.at(-1) ?? '').trim());
    if (!button) break;
    buttons.unshift({ text: button[1] as string, url: button[2] as string });
    lines.pop();
  }
  return { body: lines.join('\n').trim(), buttons: buttons.slice(0, 8) };
}
