// The jobs loop: VIP reminders (7 days and 24 hours before the end), expiry, what the VIP
// channel is still owed (channel.ts), and scheduled posts. Safe with several processes: rows are claimed with SKIP LOCKED, and marked in the
// same transaction, before anything is sent.
import { retry } from '@diana/utils';
import { GrammyError } from 'grammy';
import { FAILURE_SHOWN, postChannelLabel, shortPostId } from './commands/posts.js';
import { cutText, preview } from './cut.js';
import { type AdminKit, DEFAULT_POST_CLAIM_LEASE_MS } from './kit.js';
import { telegramAnswer } from './telegram-answer.js';
import { TEXTS } from './texts.js';
import { formatHumanDate, formatHumanMoment, formatLocalTime, localDaysBetween } from './time.js';

const DAY = 86_400_000;
/** Claims of one scheduled post (sends tried) before it is marked failed. */
const POST_ATTEMPTS = 5;
/** The wait before a failed send's second attempt; it doubles with each attempt after. */
const POST_RETRY_MS = 30_000;
/** How long the expiring pass has to send its own farewells before any pass may send them. */
const FAREWELL_GRACE_MS = 60_000;

/** A scheduled post as a pass claims it (`attempts` counts this claim). */
interface ClaimedPost {
  readonly id: string;
  readonly channel_id: string;
  readonly text: string;
  readonly buttons: Array<{ text: string; url: string }>;
  readonly attempts: number;
  readonly publish_at: Date;
  /** Who scheduled it: `tg:<telegram id>`. */
  readonly created_by: string;
}

/** What one pass of the jobs did: reminders, expiries, owed channel removals and invites, posts. */
export interface JobsPass {
  readonly reminded: number;
  readonly expired: number;
  /** Channel removals done of those a failure or a crash left owed (an expiry's own is not counted). */
  readonly removed: number;
  /** Invite links sent of those a failure or a crash left owed. */
  readonly invited: number;
  /** Posts sent to their chat in this pass (one that failed is not counted). */
  readonly published: number;
}

/** How long a told event's record is kept (`admin_told_events`). */
const TOLD_KEPT_MS = 30 * 86_400_000;

/** One pass of the jobs. */
export function createJobs(kit: AdminKit): () => Promise<JobsPass> {
  const { db, deps, settings, logger } = kit;
  const bus = deps.bus;

  // ---- jobs: safe with several processes (rows claimed with SKIP LOCKED in one transaction) ----

  // 7 days before the end (not when already in the last day: then only the 24 h one), and 24 h before
  const remind = async (
    column: 'reminded_7d_at' | 'reminded_24h_at',
    within: number,
    notice: '7d' | '24h',
    text: (ends_at: Date, at: Date) => string,
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
    for (const row of due) await kit.send(Number(row.telegram_id), text(row.ends_at, at));
    return due.length;
  };

  const expire = async () => {
    const at = kit.now();
    const due = await db.transaction(async (tx) => {
      const rows = await tx<{ user_id: string; telegram_id: string; status: string }[]>`
        select s.user_id, u.telegram_id::text, u.status from admin_subscriptions s join users u on u.id = s.user_id
        where s.status = 'active' and s.ends_at <= ${at} order by s.ends_at limit 100 for update of s skip locked`;
      const ended: Array<(typeof rows)[number] & { dropped: boolean }> = [];
      for (const row of rows) {
        // the channel removal is owed from now until Telegram takes it (channel.ts), the farewell
        // until a pass claims it (never to who blocked us)
        await tx`
          update admin_subscriptions set status = 'expired', expired_at = ${at},
            removal_due_at = ${kit.vipChannel.id === undefined ? null : at}, removal_attempts = 0, removal_error = null,
            farewell_due_at = ${row.status === 'active' ? at : null}
          where user_id = ${row.user_id}`;
        // on the user's row locked now: a /rol since the read above is not undone
        ended.push({ ...row, dropped: await kit.switchVip(row.user_id, 'FREE') });
        await kit.audit({ actor: 'system', action: 'subscription_expired', target: row.user_id });
        await bus.publish('admin.subscription_expired', { user_id: row.user_id }, { key: row.user_id });
      }
      return ended;
    });
    // each member on their own: one's failure (PostgreSQL dropping the connection during their
    // removal) leaves the rest to be done; what it left owed is on its row for the next passes
    for (const row of due) {
      if (row.dropped) await kit.roleChanged(Number(row.telegram_id)); // never throws
      try {
        // the removal first: a member who renewed since this pass read them (its Telegram calls
        // take seconds for a hundred rows) keeps the channel, and the farewell's claim sees it
        await kit.vipChannel.remove(row.user_id);
      } catch (error) {
        logger.warn(
          { err: error, user_id: row.user_id },
          'VIP channel removal after expiry failed; the jobs try it again',
        );
      }
      try {
        await sendFarewells(row.user_id);
      } catch (error) {
        logger.warn({ err: error, user_id: row.user_id }, 'farewell not claimed; a later pass sends it');
      }
    }
    return due.length;
  };

  // A farewell owed is claimed — set null and committed — before it is sent: at most once (a
  // crash between the two loses that one). A member who renewed since their expiry is owed none:
  // the claim clears it without a word. `user_id`: the one the expiring pass itself sends.
  const sendFarewells = async (user_id?: string) => {
    const which =
      user_id === undefined
        ? db.sql`farewell_due_at <= ${new Date(kit.now().getTime() - FAREWELL_GRACE_MS)}`
        : db.sql`farewell_due_at is not null and user_id = ${user_id}`;
    const claimed = await db.sql<{ telegram_id: string; active: boolean }[]>`
      with owed as (
        select user_id, status = 'active' as active from admin_subscriptions
        where ${which} order by farewell_due_at limit 100 for update skip locked)
      update admin_subscriptions s set farewell_due_at = null
      from owed join users u on u.id = owed.user_id
      where s.user_id = owed.user_id
      returning u.telegram_id::text, owed.active`;
    for (const { telegram_id, active } of claimed) {
      if (active) continue;
      // the pass that expired them may have died before dropping the app's cached VIP row: a
      // second drop does no harm
      if (user_id === undefined) await kit.roleChanged(Number(telegram_id));
      await kit.send(Number(telegram_id), TEXTS.farewell);
    }
    return claimed.length;
  };

  // A post is claimed ('publishing', committed) before it is sent, so no other process sends it
  // too. Its sender renews the claim while it works; a claim not renewed for a lease (its process
  // died or froze between claim and mark) is taken over, and the post is sent by the next pass: a
  // sender that was only frozen that long may then have sent it too, which Telegram gives no way
  // to rule out (a lost post is the worse outcome). A send that fails for a reason that may pass
  // is tried again later (POST_ATTEMPTS in all); one Telegram refuses for good (400, 403) is not.
  // The claim's age is read on PostgreSQL's clock, the one every process shares: written from
  // each process's own clock, a process whose clock ran a lease ahead took a live sender's claim
  // over and the post went out twice.
  const lease = settings.post_claim_lease_ms ?? DEFAULT_POST_CLAIM_LEASE_MS;
  const publishPosts = async () => {
    const at = kit.now();
    const claimed = await db.transaction(
      (tx) => tx<(ClaimedPost & { was: string })[]>`
        with due as (
          select id, status as was from admin_scheduled_posts
          where (status = 'pending' and publish_at <= ${at} and (retry_at is null or retry_at <= ${at}))
             or (status = 'publishing' and claimed_at < clock_timestamp() - make_interval(secs => ${lease / 1000}))
          order by publish_at limit 20 for update skip locked)
        update admin_scheduled_posts p set status = 'publishing', claimed_at = clock_timestamp(), attempts = p.attempts + 1
        from due where p.id = due.id
        returning p.id, p.channel_id, p.text, p.buttons, p.attempts, p.publish_at, p.created_by, due.was`,
    );
    // every claim of the batch is renewed until its post is handled: renewing only the one being
    // sent let another process take the rest over while the first waited out a 429, and send them
    // twice
    const waiting = new Set(claimed.map((post) => post.id));
    const renew = setInterval(() => {
      if (waiting.size === 0) return;
      db.sql`update admin_scheduled_posts set claimed_at = clock_timestamp() where id = any(${[...waiting]}::uuid[]) and status = 'publishing'`.catch(
        () => {},
      );
    }, lease / 4);
    let sent = 0;
    try {
      for (const post of claimed) {
        if (post.was === 'publishing')
          logger.warn(
            { post_id: post.id, lease_ms: lease },
            'scheduled post: taking over a claim not renewed within its lease (its process died or froze)',
          );
        try {
          if (await publishOne(post)) sent++;
        } finally {
          waiting.delete(post.id);
        }
      }
    } finally {
      clearInterval(renew);
    }
    return sent;
  };

  /** Sends a claimed post; true when Telegram took it. */
  const publishOne = async (post: ClaimedPost): Promise<boolean> => {
    let message: { message_id: number };
    try {
      const keyboard = [...post.buttons.map((b) => [b]), ...(deps.decoratePost?.(post.id) ?? [])];
      message = await deps.api().sendMessage(Number(post.channel_id), post.text, {
        ...(keyboard.length > 0 ? { reply_markup: { inline_keyboard: keyboard } } : {}),
      });
    } catch (error) {
      // Telegram's own words ("403: Forbidden: bot is not a member of the channel chat")
      const why = telegramAnswer(error);
      const refused = error instanceof GrammyError && (error.error_code === 400 || error.error_code === 403);
      if (refused || post.attempts >= POST_ATTEMPTS) {
        logger.error({ err: error, post_id: post.id, attempts: post.attempts }, 'scheduled post failed');
        await db.sql`update admin_scheduled_posts set status = 'failed', error = ${why} where id = ${post.id}`;
        // after the mark: at most once (a crash between the two loses the notice, not the mark)
        await tellCreator(post, why);
      } else {
        const retryAt = new Date(kit.now().getTime() + POST_RETRY_MS * 2 ** (post.attempts - 1));
        logger.warn(
          { err: error, post_id: post.id, attempts: post.attempts, retry_at: retryAt },
          'scheduled post not sent; trying again later',
        );
        await db.sql`update admin_scheduled_posts set status = 'pending', retry_at = ${retryAt}, error = ${why} where id = ${post.id}`;
      }
      return false;
    }
    // sent: from here it is never sent again by this process; the mark is retried (a PostgreSQL
    // that drops sessions for a moment must not leave it 'publishing', to be taken over and resent)
    await retry(
      () =>
        db.transaction(async (tx) => {
          // a retry after a commit whose answer was lost finds it published already: no second event
          const marked =
            await tx`update admin_scheduled_posts set status = 'published', published_at = ${kit.now()}, message_id = ${message.message_id}, error = null where id = ${post.id} and status = 'publishing'`;
          if (marked.count === 0) return;
          await bus.publish(
            'admin.post_published',
            { post_id: post.id, channel_id: post.channel_id, message_id: message.message_id },
            { key: post.id },
          );
        }),
      { max_attempts: 8, base_ms: 200, max_ms: 5_000 },
    ).catch((error: unknown) =>
      logger.error({ err: error, post_id: post.id }, 'scheduled post sent, but not marked published'),
    );
    return true;
  };

  // the creator of a post the jobs gave up on is told which, where and why (never throws)
  const tellCreator = async (post: ClaimedPost, why: string) => {
    const creator = /^tg:(\d+)$/.exec(post.created_by)?.[1];
    if (creator === undefined) {
      logger.warn({ post_id: post.id, created_by: post.created_by }, 'failed post: no creator to tell');
      return;
    }
    await kit.send(
      Number(creator),
      TEXTS.postFailedNotice(
        shortPostId(post.id),
        postChannelLabel(settings, post.channel_id),
        formatLocalTime(post.publish_at, settings.timezone),
        preview(post.text),
        cutText(why, FAILURE_SHOWN),
      ),
    );
  };

  const runJobs = async () => {
    const reminded =
      (await remind('reminded_7d_at', 7 * DAY, '7d', (ends, at) => {
        // the days left on the bot's calendar (beside the date it names: the 24-hour days elapsed,
        // rounded up, made a day's end 26 hours away "en 2 días, el 18", the 18th being tomorrow),
        // and the date; an end tomorrow (a notice late after downtime) is said with its time
        const days = localDaysBetween(at, ends, settings.timezone);
        return days >= 2
          ? TEXTS.reminder7d(days, formatHumanDate(ends, settings.timezone, at))
          : TEXTS.reminder24h(formatHumanMoment(ends, settings.timezone, at));
      })) +
      // within the last 24 hours: today or tomorrow, with the time ("mañana" alone was told of an
      // end 2 hours away when the bot came back at 08:00 from downtime)
      (await remind('reminded_24h_at', DAY, '24h', (ends, at) =>
        TEXTS.reminder24h(formatHumanMoment(ends, settings.timezone, at)),
      ));
    const expired = await expire();
    // farewells an error or a crash after an expiry's commit left owed
    await sendFarewells();
    // removals and invites a Telegram refusal or a crash left owed
    const { removed, invited } = await kit.vipChannel.sweep();
    const published = await publishPosts();
    // told events past any redelivery (the bus retries for minutes, a replay from the dead
    // letters within days): the table stays as small as a month of adjustments
    await db.sql`delete from admin_told_events where told_at < ${new Date(kit.now().getTime() - TOLD_KEPT_MS)}`;
    return { reminded, expired, removed, invited, published };
  };
  return runJobs;
}
