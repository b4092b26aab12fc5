// What the VIP channel is owed for a subscription, kept on its row until Telegram has taken it:
// a member's removal once the subscription ended (expired, cancelled), and a new member's invite
// link once it started. Both are Telegram calls made after the commit, which Telegram can refuse
// or fail (a 5xx, a bot without the rights) and a crash can skip: the row says what is still
// owed, and each jobs pass tries it again, with a growing wait, until it is done.
import type { Database } from '@diana/db';
import type { Clock, Logger } from '@diana/utils';
import { type Api, GrammyError } from 'grammy';
import { TEXTS } from './texts.js';

/** The longest one Telegram call may take (a removal holds the subscription's row for it). */
const CALL_TIMEOUT_MS = 10_000;
/** The wait before an owed call is tried again: doubling from a minute, at most an hour. */
const retryDelay = (attempts: number) => Math.min(3_600_000, 60_000 * 2 ** Math.max(0, attempts - 1));
/** How long the redeem's own invite attempt has before the jobs may send one too. */
export const INVITE_GRACE_MS = 60_000;
/** How long an invite on its way is claimed: its two calls, each bounded by CALL_TIMEOUT_MS, and room. */
const INVITE_CLAIM_MS = 60_000;

/** What an invite did: sent, owed still (failed, tried again later), or nothing owed here. */
export type InviteOutcome = 'sent' | 'failed' | 'none';

/** What a removal did: done, owed still (failed, tried again later), or not due (renewed, nothing owed). */
export type RemovalOutcome = 'removed' | 'failed' | 'renewed' | 'none';

export interface VipChannel {
  /** The VIP channel's chat id, when one is configured. */
  readonly id: number | undefined;
  /**
   * Takes the member out of the channel (ban, then unban: they may join again with a new link)
   * if their subscription still owes it, under its row's lock: a renewal that committed first
   * (the jobs loop reaching a member seconds after it read them) keeps them in (`'renewed'`).
   * `wait: false` skips a row another process holds (the jobs' sweep).
   */
  remove(user_id: string, options?: { wait?: boolean }): Promise<RemovalOutcome>;
  /**
   * Sends the invite link a running subscription is owed, claimed for the Telegram calls so that
   * no other process sends one too: `'sent'`, `'failed'` (owed still, tried again later), or
   * `'none'` (nothing owed, or another process's claim is live and it sends it). The jobs' sweep
   * asks only for invites past their due time; the redeem (`early`) for its own at once.
   */
  invite(user_id: string, options?: { early?: boolean }): Promise<InviteOutcome>;
  /** One sweep of what is owed and due: removals, then invites. */
  sweep(): Promise<{ removed: number; invited: number }>;
}

export function createVipChannel(deps: {
  db: Database;
  api: () => Api;
  clock: Clock;
  logger: Logger;
  channel_id: number | undefined;
}): VipChannel {
  const { db, logger } = deps;
  const channel = deps.channel_id;
  const now = () => new Date(deps.clock.now());
  // grammY types its signal with a polyfill's AbortSignal; Node's is the same at run time
  const signal = () => AbortSignal.timeout(CALL_TIMEOUT_MS) as unknown as Parameters<Api['sendMessage']>[3];

  // Under the row's lock for its two calls (each bounded by CALL_TIMEOUT_MS), so that a renewal
  // committed first keeps the member in: a connection is held meanwhile (the embedded database's
  // only one), which a slow Telegram makes every other update wait for — left to do: a claim, as
  // the invite's.
  const remove = (user_id: string, options: { wait?: boolean } = {}) =>
    db.transaction(async (tx): Promise<RemovalOutcome> => {
      // a sweep skips a row another process holds; a caller that just ended the subscription waits
      const [row] = await tx<{ telegram_id: string; active: boolean; due: boolean; attempts: number }[]>`
        select u.telegram_id::text, s.status = 'active' as active, s.removal_due_at is not null as due,
               s.removal_attempts as attempts
        from admin_subscriptions s join users u on u.id = s.user_id
        where s.user_id = ${user_id} for update of s ${options.wait === false ? tx`skip locked` : tx``}`;
      if (!row) return 'none';
      if (row.active) return 'renewed';
      if (!row.due) return 'none';
      if (channel === undefined) {
        await tx`update admin_subscriptions set removal_due_at = null, removal_attempts = 0 where user_id = ${user_id}`;
        return 'none';
      }
      const member = Number(row.telegram_id);
      try {
        await deps.api().banChatMember(channel, member, undefined, signal());
        // without the unban they could never come back, not even with a new link
        await deps.api().unbanChatMember(channel, member, { only_if_banned: true }, signal());
      } catch (error) {
        const attempts = row.attempts + 1;
        const retry_at = new Date(now().getTime() + retryDelay(attempts));
        await tx`update admin_subscriptions set removal_due_at = ${retry_at}, removal_attempts = ${attempts} where user_id = ${user_id}`;
        logger.warn(
          { err: error, telegram_id: member, attempts, retry_at },
          'removal from the VIP channel failed; the jobs try it again',
        );
        return 'failed';
      }
      await tx`update admin_subscriptions set removal_due_at = null, removal_attempts = 0 where user_id = ${user_id}`;
      return 'removed';
    });

  // An invite is claimed (committed, for INVITE_CLAIM_MS on PostgreSQL's clock, which every
  // process shares) before Telegram is called with no transaction open; a sweep skips a live
  // claim, so no other process sends a second one-use link while this one is on its way. Before,
  // the redeem called Telegram unclaimed, and a sweep past the redeem's grace (a slow call, or a
  // process whose clock ran a minute ahead) sent the member a second link, one they could give
  // away. (A removal still holds its row for its calls: see `remove`.)
  const invite = async (user_id: string, options: { early?: boolean } = {}): Promise<InviteOutcome> => {
    const at = now();
    const [row] = await db.sql<{ telegram_id: string; ends_at: Date; active: boolean; attempts: number }[]>`
      update admin_subscriptions s
      set invite_claimed_until = clock_timestamp() + make_interval(secs => ${INVITE_CLAIM_MS / 1000})
      from users u
      where s.user_id = ${user_id} and u.id = s.user_id
        and ${options.early ? db.sql`s.invite_due_at is not null` : db.sql`s.invite_due_at <= ${at}`}
        and (s.invite_claimed_until is null or s.invite_claimed_until <= clock_timestamp())
      returning u.telegram_id::text, s.ends_at, s.status = 'active' as active, s.invite_attempts as attempts`;
    if (!row) return 'none';
    const settle = (due: Date | null, attempts: number) =>
      db.sql`
        update admin_subscriptions set invite_due_at = ${due}, invite_attempts = ${attempts}, invite_claimed_until = null
        where user_id = ${user_id}`;
    const ended = !row.active || row.ends_at <= at;
    if (channel === undefined || ended) {
      await settle(null, 0);
      return 'none';
    }
    const member = Number(row.telegram_id);
    try {
      const link = await deps
        .api()
        .createChatInviteLink(
          channel,
          { member_limit: 1, expire_date: Math.floor(row.ends_at.getTime() / 1000) },
          signal(),
        );
      await deps.api().sendMessage(member, TEXTS.inviteLink(link.invite_link), undefined, signal());
    } catch (error) {
      // a member who blocked the bot cannot be sent one: they get a link when they write again
      // and redeem; nothing more is owed
      const blocked = error instanceof GrammyError && error.error_code === 403;
      const attempts = row.attempts + 1;
      const retry_at = blocked ? null : new Date(at.getTime() + retryDelay(attempts));
      await settle(retry_at, blocked ? 0 : attempts);
      logger.warn(
        { err: error, telegram_id: member, attempts, retry_at },
        blocked
          ? 'VIP channel invite not sent: the member blocked the bot'
          : 'VIP channel invite not sent; the jobs try it again',
      );
      return blocked ? 'none' : 'failed';
    }
    await settle(null, 0);
    return 'sent';
  };

  return {
    id: channel,
    remove,
    invite,
    async sweep() {
      const at = now();
      const due = await db.sql<{ user_id: string; what: 'removal' | 'invite' }[]>`
        (select user_id, 'removal' as what from admin_subscriptions where removal_due_at <= ${at}
         order by removal_due_at limit 100)
        union all
        (select user_id, 'invite' as what from admin_subscriptions where invite_due_at <= ${at}
         order by invite_due_at limit 100)`;
      let removed = 0;
      let invited = 0;
      for (const { user_id, what } of due)
        if (what === 'removal') removed += (await remove(user_id, { wait: false })) === 'removed' ? 1 : 0;
        else invited += (await invite(user_id)) === 'sent' ? 1 : 0;
      return { removed, invited };
    },
  };
}
