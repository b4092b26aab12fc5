// The jobs loop: VIP reminders (7 days and 24 hours before the end), expiry, and scheduled
// posts. Safe with several processes: rows are claimed with SKIP LOCKED, and marked in the
// same transaction, before anything is sent.
import type { AdminKit } from './kit.js';
import { TEXTS } from './texts.js';

const DAY = 86_400_000;

/** One pass of the jobs: how many reminders, expiries and posts it handled. */
export function createJobs(kit: AdminKit): () => Promise<{ reminded: number; expired: number; published: number }> {
  const { db, users, deps, settings, logger } = kit;
  const bus = deps.bus;

  // ---- jobs: safe with several processes (rows claimed with SKIP LOCKED in one transaction) ----

  // 7 days before the end (not when already in the last day: then only the 24 h one), and 24 h before
  const remind = async (
    column: 'reminded_7d_at' | 'reminded_24h_at',
    within: number,
    notice: '7d' | '24h',
    text: string,
  ) => {
    const at = kit.now();
    const after = new Date(at.getTime() + (notice === '7d' ? DAY : 0));
    const due = await db.transaction(async (tx) => {
      const rows = await tx<{ user_id: string; ends_at: Date; telegram_id: string }[]>`
        select s.user_id, s.ends_at, u.telegram_id::text from admin_subscriptions s join users u on u.id = s.user_id
        where s.status = 'active' and u.status = 'active' and s.${tx(column)} is null and s.ends_at > ${after} and s.ends_at <= ${new Date(at.getTime() + within)}
        order by s.ends_at limit 100 for update of s skip locked`;
      for (const row of rows) {
        await tx`update admin_subscriptions set ${tx(column)} = ${at} where user_id = ${row.user_id}`;
        await bus.publish(
          'admin.subscription_expiring',
          { user_id: row.user_id, ends_at: row.ends_at.toISOString(), notice },
          { key: row.user_id },
        );
      }
      return rows;
    });
    for (const row of due) await kit.send(Number(row.telegram_id), text);
    return due.length;
  };

  const expire = async () => {
    const at = kit.now();
    const due = await db.transaction(async (tx) => {
      const rows = await tx<{ user_id: string; telegram_id: string; role: string; status: string }[]>`
        select s.user_id, u.telegram_id::text, u.role, u.status from admin_subscriptions s join users u on u.id = s.user_id
        where s.status = 'active' and s.ends_at <= ${at} order by s.ends_at limit 100 for update of s skip locked`;
      for (const row of rows) {
        await tx`update admin_subscriptions set status = 'expired', expired_at = ${at} where user_id = ${row.user_id}`;
        if (row.role === 'VIP') await users.setRole(row.user_id, 'FREE');
        await kit.audit({ actor: 'system', action: 'subscription_expired', target: row.user_id });
        await bus.publish('admin.subscription_expired', { user_id: row.user_id }, { key: row.user_id });
      }
      return rows;
    });
    for (const row of due) {
      if (settings.vip_channel_id !== undefined) {
        const member = Number(row.telegram_id);
        await deps
          .api()
          .banChatMember(settings.vip_channel_id, member)
          .catch((error: unknown) => logger.warn({ err: error }, 'removal from the VIP channel failed'));
        await deps
          .api()
          .unbanChatMember(settings.vip_channel_id, member, { only_if_banned: true })
          .catch(() => {});
      }
      if (row.status === 'active') await kit.send(Number(row.telegram_id), TEXTS.farewell); // never to who blocked us
    }
    return due.length;
  };

  const publishPosts = async () => {
    const at = kit.now();
    // claimed (status 'publishing') and committed before sending: another process never sends it too
    const claimed = await db.transaction(
      (tx) => tx<{ id: string; channel_id: string; text: string; buttons: Array<{ text: string; url: string }> }[]>`
        update admin_scheduled_posts set status = 'publishing', claimed_at = ${at}
        where id in (select id from admin_scheduled_posts where status = 'pending' and publish_at <= ${at}
                     order by publish_at limit 20 for update skip locked)
        returning id, channel_id, text, buttons`,
    );
    for (const post of claimed) {
      try {
        const keyboard = [...post.buttons.map((b) => [b]), ...(deps.decoratePost?.(post.id) ?? [])];
        const message = await deps.api().sendMessage(Number(post.channel_id), post.text, {
          ...(keyboard.length > 0 ? { reply_markup: { inline_keyboard: keyboard } } : {}),
        });
        await db.transaction(async (tx) => {
          await tx`update admin_scheduled_posts set status = 'published', published_at = ${kit.now()}, message_id = ${message.message_id} where id = ${post.id}`;
          await bus.publish(
            'admin.post_published',
            { post_id: post.id, channel_id: post.channel_id, message_id: message.message_id },
            { key: post.id },
          );
        });
      } catch (error) {
        logger.error({ err: error, post_id: post.id }, 'scheduled post failed');
        await db.sql`update admin_scheduled_posts set status = 'failed', error = ${String((error as Error).message).slice(0, 500)} where id = ${post.id}`;
      }
    }
    return claimed.length;
  };

  const runJobs = async () => {
    const reminded =
      (await remind('reminded_7d_at', 7 * DAY, '7d', TEXTS.reminder7d)) +
      (await remind('reminded_24h_at', DAY, '24h', TEXTS.reminder24h));
    const expired = await expire();
    const published = await publishPosts();
    return { reminded, expired, published };
  };
  return runJobs;
}
