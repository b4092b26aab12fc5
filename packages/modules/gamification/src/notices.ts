// Telling users what they were paid. A payment publishes its event through the outbox in the
// transaction that wrote the ledger entry (only when that entry was new), so the event exists
// exactly when the payment does and survives a crash right after the commit. This consumer turns
// each such event into one message: a row in `gamification_notices` (the event id) is committed
// before the message goes out, so a redelivered or replayed event is never told twice. A send
// Telegram refuses for good (403: the user blocked the bot; 400: the chat is gone) is recorded and
// dropped; any other failure releases the row and the bus retries. The payment never waits for
// any of this: it is a consumer group of its own.
import type { Database, UserRepository } from '@diana/db';
import type { EventEnvelope, ModuleSubscription } from '@diana/event-bus';
import { escapeHtml } from '@diana/security';
import { formatBesitos, getPackageLogger, type Logger } from '@diana/utils';
import { type Api, GrammyError } from 'grammy';
import { TEXTS } from './texts.js';

/** The consumer group that tells users their payments. */
export const NOTICE_GROUP = 'gamification-notices';

export interface NoticeDeps {
  readonly db: Database;
  readonly users: UserRepository;
  readonly api: () => Api;
  /** Titles of missions and achievements as configured now (the id when unknown). */
  readonly missionTitle: (id: string) => string;
  readonly achievementTitle: (id: string) => string;
  readonly logger?: Logger;
}

interface Paid {
  readonly user_id: string;
  readonly amount?: number;
  readonly source?: string;
  readonly balance?: number;
  readonly mission?: string;
  readonly achievement?: string;
  readonly reward?: number;
  readonly paid?: number;
  readonly applied?: number;
  readonly reason?: string;
}

/** The subscription that tells each payment to its user, once. */
export function createNotices(deps: NoticeDeps): ModuleSubscription {
  const logger = getPackageLogger(deps.logger, 'gamification');
  const { db } = deps;
  const release = (event_id: string) => db.sql`delete from gamification_notices where event_id = ${event_id}`;
  const settle = (event_id: string, state: 'sent' | 'undeliverable') =>
    db.sql`update gamification_notices set state = ${state}, updated_at = now() where event_id = ${event_id}`;

  return {
    group: NOTICE_GROUP,
    types: [
      'gamification.besitos_awarded',
      'gamification.mission_completed',
      'gamification.achievement_unlocked',
      'gamification.adjustment_applied',
    ],
    handler: async (event: EventEnvelope) => {
      const payload = event.payload as Paid;
      const text = render(event.type, payload, deps);
      if (!text || typeof payload.user_id !== 'string') return;
      const claimed = await db.sql`
        insert into gamification_notices (event_id, user_id, state) values (${event.id}, ${payload.user_id}, 'sending')
        on conflict do nothing returning 1`;
      if (claimed.length === 0) return; // told already (or being told by another delivery)
      const user = await deps.users.getById(payload.user_id);
      if (user?.status !== 'active') {
        await settle(event.id, 'undeliverable');
        return;
      }
      try {
        await deps.api().sendMessage(user.telegram_id, text, { parse_mode: 'HTML' });
      } catch (error) {
        if (error instanceof GrammyError && (error.error_code === 403 || error.error_code === 400)) {
          logger.info({ user_id: user.id, event_id: event.id, code: error.error_code }, 'payment notice undeliverable');
          await settle(event.id, 'undeliverable');
          return;
        }
        await release(event.id); // a retry (the bus redelivers) may tell it
        throw error;
      }
      await settle(event.id, 'sent');
    },
  };
}

/** The message for a payment event, or undefined when this payment is told elsewhere (or not at all). */
function render(type: string, p: Paid, deps: NoticeDeps): string | undefined {
  const n = TEXTS.notice;
  const besitos = (amount: number | undefined) => formatBesitos(amount ?? 0);
  switch (type) {
    case 'gamification.besitos_awarded':
      // the daily gift and reactions are answered where they happen; missions, achievements and
      // admin adjustments have their own events, with their titles and reasons
      if (p.source === 'welcome') return n.welcome(besitos(p.amount));
      if (p.source === 'decision') return n.decision(besitos(p.amount));
      if (p.source === 'fragment') return n.fragment(besitos(p.amount));
      return undefined;
    case 'gamification.mission_completed':
    case 'gamification.achievement_unlocked': {
      const mission = type === 'gamification.mission_completed';
      const title = escapeHtml(
        mission ? deps.missionTitle(p.mission ?? '') : deps.achievementTitle(p.achievement ?? ''),
      );
      const paid = p.paid ?? p.reward ?? 0;
      if (paid > 0) return mission ? n.mission(title, besitos(paid)) : n.achievement(title, besitos(paid));
      const bare = mission ? n.missionNoReward(title) : n.achievementNoReward(title);
      return (p.reward ?? 0) > 0 ? bare + n.capped : bare;
    }
    case 'gamification.adjustment_applied': {
      const applied = p.applied ?? 0;
      const reason = escapeHtml(p.reason?.trim() ?? '');
      if (applied > 0) return n.granted(besitos(applied), reason, besitos(p.balance));
      if (applied < 0) return n.taken(besitos(-applied), reason, besitos(p.balance));
      return undefined;
    }
    default:
      return undefined;
  }
}
