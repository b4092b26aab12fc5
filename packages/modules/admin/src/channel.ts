// What the VIP channel is owed for a subscription, kept on its row until Telegram has taken it:
// a member's removal once the subscription ended (expired, cancelled), and a new member's invite
// link once it started. Both are Telegram calls made after the commit, which Telegram can refuse
// or fail (a 5xx, a bot without the rights) and a crash can skip: the row says what is still
// owed, and each jobs pass tries it again, with a growing wait, until it is done.
import type { Database } from '@diana/db';
import type { Clock, Logger } from '@diana/utils';
import { type Api, GrammyError } from 'grammy';
import { telegramAnswer } from './telegram-answer.js';
import { TEXTS } from './texts.js';

/** The longest one Telegram call may take. */
const CALL_TIMEOUT_MS = 10_000;
/** The wait before an owed call is tried again: doubling from a minute, at most an hour. */
const retryDelay = (attempts: number) => Math.min(3_600_000, 60_000 * 2 ** Math.max(0, attempts - 1));
/** How long the redeem's own invite attempt has before the jobs may send one too. */
export const INVITE_GRACE_MS = 60_000;
/**
 * Tried this many times, a failure is said at error, and /stats lists the call with Telegram's
 * answer: it may need staff (a right the bot lacks, a member Telegram will not ban).
 */
export const SAY_AT_ERROR = 5;
/** How long a removal or an invite on its way is claimed: its calls (at most three, each bounded by CALL_TIMEOUT_MS), and room. */
const CLAIM_MS = 60_000;

/** What an invite did: sent, owed still (failed, tried again later), or nothing owed here. */
export type InviteOutcome = 'sent' | 'failed' | 'none';

/**
 * What a removal did: done; owed still — Telegram failed (`'failed'`, tried again later) or
 * another process has it in hand (`'later'`: its removal, or an invite on its way, is claimed);
 * or not due (`'renewed'`, `'none'`: nothing owed).
 */
export type RemovalOutcome = 'removed' | 'failed' | 'later' | 'renewed' | 'none';

export interface VipChannel {
  /** The VIP channel's chat id, when one is configured. */
  readonly id: number | undefined;
  /**
   * Takes the member out of the channel if their subscription still owes it: the link they were
   * last sent revoked, then ban and unban (they may join again with a new link). Claimed for the
   * Telegram calls, as an invite is, and only while the subscription is not active: a renewal
   * that committed first keeps them in (`'renewed'`); one that commits during the calls gets
   * them a new link at once. Only a removal due by now (an expiry or a cancellation owes it at
   * once, a failed try later).
   */
  remove(user_id: string): Promise<RemovalOutcome>;
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
  const claimUntil = () => db.sql`clock_timestamp() + make_interval(secs => ${CLAIM_MS / 1000})`;
  // no live claim of either kind: a removal waits for an invite on its way, and the reverse
  const unclaimed = () => db.sql`
    (s.removal_claimed_until is null or s.removal_claimed_until <= clock_timestamp())
    and (s.invite_claimed_until is null or s.invite_claimed_until <= clock_timestamp())`;

  /**
   * Revokes a link the bot created. A 400 that names the link (expired, revoked, unknown to
   * Telegram) leaves nothing to revoke; any other failure (a bot without the right to manage
   * links, a 5xx) throws, and what called it stays owed.
   */
  const revoke = async (link: string | null) => {
    if (channel === undefined || link === null) return;
    try {
      await deps.api().revokeChatInviteLink(channel, link, signal());
    } catch (error) {
      const gone =
        error instanceof GrammyError &&
        error.error_code === 400 &&
        /INVITE_HASH|INVITE_LINK|expired|revoked/i.test(error.description);
      if (!gone) throw error;
    }
  };

  // A removal is claimed (committed, for CLAIM_MS on PostgreSQL's clock, which every process
  // shares) while the subscription is not active and no invite is on its way, then Telegram is
  // called with no transaction open; what it settles is fenced by its claim (a process frozen
  // past it writes nothing over another's). Before, the removal held the row's lock for its
  // calls, and with it a connection (the embedded database's only one): a slow Telegram made
  // every other update wait. Waiting for a live invite claim means the link that invite sends is
  // stored before this removal revokes it.
  const remove = async (user_id: string): Promise<RemovalOutcome> => {
    const at = now();
    if (channel === undefined) {
      await db.sql`
        update admin_subscriptions set removal_due_at = null, removal_attempts = 0, removal_error = null
        where user_id = ${user_id} and removal_due_at is not null`;
      return 'none';
    }
    // (a running subscription owes a removal only when a renewal came during one whose ban went
    // through and whose unban failed: the redeem clears it otherwise; then the unban alone is owed)
    const [row] = await db.sql<
      {
        telegram_id: string;
        active: boolean;
        attempts: number;
        link: string | null;
        expired: boolean;
        claim: string;
      }[]
    >`
      update admin_subscriptions s set removal_claimed_until = ${claimUntil()}
      from users u
      where s.user_id = ${user_id} and u.id = s.user_id and s.removal_due_at <= ${at} and ${unclaimed()}
      returning u.telegram_id::text, s.status = 'active' as active, s.removal_attempts as attempts,
                s.invite_link as link, s.ends_at <= ${at} as expired,
                (extract(epoch from s.removal_claimed_until) * 1000000)::bigint::text as claim`;
    if (!row) {
      // read after the claim's statement, which may have waited for a renewal's commit (which
      // cleared the removal owed): that renewal is seen here (one statement's snapshot from before it said "later" to a renewed
      // member, who was then told their VIP was cancelled)
      const [current] = await db.sql<{ active: boolean; due: boolean }[]>`
        select status = 'active' as active, removal_due_at is not null as due from admin_subscriptions
        where user_id = ${user_id}`;
      return !current ? 'none' : current.active ? 'renewed' : current.due ? 'later' : 'none';
    }
    const ours = () =>
      db.sql`user_id = ${user_id} and (extract(epoch from removal_claimed_until) * 1000000)::bigint = ${row.claim}::bigint`;
    const member = Number(row.telegram_id);
    // a ban that may stand: a renewal meanwhile still owes its unban
    let banned = row.active;
    try {
      if (!row.active) {
        // the link first: a member who never used it could otherwise join again after the unban
        // (one sent for a subscription that has ended expired with it)
        if (!row.expired) await revoke(row.link);
        await deps.api().banChatMember(channel, member, undefined, signal());
        banned = true;
      }
      // without the unban they could never come back, not even with a new link
      await deps.api().unbanChatMember(channel, member, { only_if_banned: true }, signal());
    } catch (error) {
      const attempts = row.attempts + 1;
      const retry_at = new Date(at.getTime() + retryDelay(attempts));
      // a renewal meanwhile owes no removal, unless a ban went through: then its unban
      await db.sql`
        update admin_subscriptions
        set removal_due_at = case when status = 'active' and not ${banned} then null else ${retry_at}::timestamptz end,
            removal_attempts = case when status = 'active' and not ${banned} then 0 else ${attempts} end,
            removal_error = case when status = 'active' and not ${banned} then null else ${telegramAnswer(error)} end,
            removal_claimed_until = null
        where ${ours()}`;
      logger[attempts >= SAY_AT_ERROR ? 'error' : 'warn'](
        { err: error, telegram_id: member, attempts, retry_at },
        'removal from the VIP channel failed; the jobs try it again',
      );
      return 'failed';
    }
    // a renewal that committed during the calls was taken out with the rest: its invite (refused
    // meanwhile by this claim) is sent now, after the removal, so the link works
    if (row.active) {
      await db.sql`
        update admin_subscriptions set removal_due_at = null, removal_attempts = 0, removal_error = null,
          removal_claimed_until = null
        where ${ours()}`;
      return 'renewed';
    }
    const [settled] = await db.sql<{ renewed: boolean }[]>`
      update admin_subscriptions
      set removal_due_at = null, removal_attempts = 0, removal_error = null, removal_claimed_until = null, invite_link = null,
          invite_due_at = case when status = 'active' then coalesce(invite_due_at, ${at}) else invite_due_at end
      where ${ours()}
      returning status = 'active' as renewed`;
    if (settled?.renewed) {
      logger.warn(
        { telegram_id: member },
        'a member renewed while being taken out of the VIP channel: a new invite link is sent',
      );
      await invite(user_id, { early: true });
    }
    return 'removed';
  };

  // An invite is claimed (committed, for CLAIM_MS on PostgreSQL's clock) while no removal is on
  // its way, then Telegram is called with no transaction open; a sweep skips a live claim, so no
  // other process sends a second one-use link while this one is on its way. Before, the redeem
  // called Telegram unclaimed, and a sweep past the redeem's grace (a slow call, or a process
  // whose clock ran a minute ahead) sent the member a second link, one they could give away. The
  // link sent before is revoked first; the new one is kept on the row as soon as it is created,
  // under the claim and while the subscription runs (else it is revoked, never sent), so a
  // removal or the next invite revokes it even if this process dies before it is sent.
  const invite = async (user_id: string, options: { early?: boolean } = {}): Promise<InviteOutcome> => {
    const at = now();
    const [row] = await db.sql<
      { telegram_id: string; ends_at: Date; active: boolean; attempts: number; link: string | null; claim: string }[]
    >`
      update admin_subscriptions s
      set invite_claimed_until = ${claimUntil()}
      from users u
      where s.user_id = ${user_id} and u.id = s.user_id
        and ${options.early ? db.sql`s.invite_due_at is not null` : db.sql`s.invite_due_at <= ${at}`}
        and ${unclaimed()}
      returning u.telegram_id::text, s.ends_at, s.status = 'active' as active, s.invite_attempts as attempts,
                s.invite_link as link, (extract(epoch from s.invite_claimed_until) * 1000000)::bigint::text as claim`;
    if (!row) return 'none';
    const ours = () =>
      db.sql`user_id = ${user_id} and (extract(epoch from invite_claimed_until) * 1000000)::bigint = ${row.claim}::bigint`;
    const settle = (due: Date | null, attempts: number, error: string | null = null) =>
      db.sql`
        update admin_subscriptions
        set invite_due_at = ${due}, invite_attempts = ${attempts}, invite_error = ${error}, invite_claimed_until = null
        where ${ours()}`;
    const ended = !row.active || row.ends_at <= at;
    if (channel === undefined || ended) {
      await settle(null, 0);
      return 'none';
    }
    const member = Number(row.telegram_id);
    let sending = false;
    try {
      // one live link per member: the one before, unused, could be given to someone who never paid
      await revoke(row.link);
      const { invite_link: link } = await deps
        .api()
        .createChatInviteLink(
          channel,
          { member_limit: 1, expire_date: Math.floor(row.ends_at.getTime() / 1000) },
          signal(),
        );
      const kept = await db.sql`
        update admin_subscriptions set invite_link = ${link}
        where ${ours()} and status = 'active' and ends_at > ${at}
        returning 1`;
      if (kept.length === 0) {
        // the claim lapsed (this process froze past it) or the subscription ended meanwhile
        await revoke(link);
        logger.warn({ telegram_id: member }, 'VIP channel invite not sent: its claim lapsed or the subscription ended');
        return 'none';
      }
      sending = true;
      await deps.api().sendMessage(member, TEXTS.inviteLink(link), undefined, signal());
    } catch (error) {
      // a member who blocked the bot cannot be sent one: they get a link when they write again
      // and redeem; nothing more is owed (a 403 of the channel's calls is the bot's rights: owed)
      const blocked = sending && error instanceof GrammyError && error.error_code === 403;
      const attempts = row.attempts + 1;
      const retry_at = blocked ? null : new Date(at.getTime() + retryDelay(attempts));
      await settle(retry_at, blocked ? 0 : attempts, blocked ? null : telegramAnswer(error));
      logger[!blocked && attempts >= SAY_AT_ERROR ? 'error' : 'warn'](
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
        if (what === 'removal') removed += (await remove(user_id)) === 'removed' ? 1 : 0;
        else invited += (await invite(user_id)) === 'sent' ? 1 : 0;
      return { removed, invited };
    },
  };
}
