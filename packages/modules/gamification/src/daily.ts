// The daily gift: once per 24 h and per local day, with a streak bonus, paid once even when a
// user's claims arrive together.
import type { Database } from '@diana/db';
import { DianaError, isDianaError } from '@diana/utils';
import { GAMIFICATION_ERROR_CODES } from './errors.js';
import type { Ledger } from './ledger.js';
import type { REWARDS } from './templates.js';

const DAY_MS = 86_400_000;
/** How long a streak holds after its last gift: a claim within it continues the streak (48 h). */
export const STREAK_HOLDS_MS = 2 * DAY_MS;

/**
 * Whether a streak whose last gift was at `last_claim_at` is still running at `now`: the one rule of
 * the gift (which pays the streak) and of the profile (which shows it). The profile used to ask for
 * a gift today or yesterday by date, so a claim 47 h ago showed no streak that /regalo continued.
 */
export const streakHolds = (last_claim_at: Date, now: Date): boolean =>
  now.getTime() - last_claim_at.getTime() < STREAK_HOLDS_MS;
/** Rolls back a daily gift whose day was already paid (a DianaError: the database layer passes it through). */
const DAILY_CLAIMED = GAMIFICATION_ERROR_CODES.DAILY_ALREADY_CLAIMED;

/**
 * What a claim did: paid (`paid` may be 0 under the daily cap), the wait until the next one, or
 * `off`: an admin set `daily_gift` to 0, which turns the gift off (streak bonuses too).
 */
export type DailyOutcome =
  | { kind: 'paid'; paid: number; streak: number; balance: number }
  | { kind: 'wait'; wait_ms: number }
  | { kind: 'off' };

export function createDailyGift(deps: {
  db: Database;
  ledger: Ledger;
  timezone: string;
  rewards: () => (typeof REWARDS)['defaults'];
}) {
  const { db, ledger, timezone } = deps;
  return async (user_id: string): Promise<DailyOutcome> => {
    const r = deps.rewards();
    // nothing written: a claim while it is off keeps no streak and no cooldown (the ledger would
    // refuse an amount of 0, and the user got no answer)
    if (r.daily_gift === 0) return { kind: 'off' };
    return db
      .transaction(async (tx): Promise<DailyOutcome> => {
        // Claims of one user run one at a time: with no gift row yet, `select … for update` below
        // locks nothing, so the balance row (created if needed) is the lock (4 concurrent first
        // claims used to pay 2–4 times). The lock, the gift row and the clock are awaited together,
        // in this order: they go out in one write and PostgreSQL runs them in order, so the gift
        // row is read once the lock is held, as if each had waited for the one before.
        const [, [row], [clock]] = await Promise.all([
          ledger.lock(tx, user_id),
          tx<{ last_claim_at: Date; streak: number }[]>`
          select last_claim_at, streak from gamification_daily_gifts where user_id = ${user_id} for update`,
          tx<{ now: Date; day: string; next_day_ms: number }[]>`
          select now() as now, (now() at time zone ${timezone})::date::text as day,
                 extract(epoch from ((date_trunc('day', now() at time zone ${timezone}) + interval '1 day')
                                     at time zone ${timezone}) - now())::float8 * 1000 as next_day_ms`,
        ]);
        const { now, day, next_day_ms } = clock as { now: Date; day: string; next_day_ms: number };
        if (row && now.getTime() - row.last_claim_at.getTime() < DAY_MS)
          return {
            kind: 'wait',
            wait_ms: Math.min(DAY_MS, DAY_MS - (now.getTime() - row.last_claim_at.getTime())),
          };
        const streak = row && streakHolds(row.last_claim_at, now) ? row.streak + 1 : 1;
        const amount = r.daily_gift + Math.min((streak - 1) * r.streak_bonus, r.streak_bonus_max);
        // the gift row and the payment in one write (the payment needs nothing the row returns);
        // one gift per user and local day: the ledger refuses a second payment of this source
        const [, paid] = await Promise.all([
          tx`
          insert into gamification_daily_gifts (user_id, last_claim_at, streak) values (${user_id}, ${now}, ${streak})
          on conflict (user_id) do update set last_claim_at = excluded.last_claim_at, streak = excluded.streak`,
          ledger.award(tx, { user_id, amount, source: 'daily', source_event_id: `daily:${user_id}:${day}` }),
        ]);
        // already paid today (a 25-hour day lets 24 h pass within one date): undo the gift row too
        if (paid.duplicate)
          throw new DianaError(DAILY_CLAIMED, 'daily gift already claimed today', {
            context: { wait_ms: next_day_ms },
          });
        return { kind: 'paid', paid: paid.paid, streak, balance: paid.balance };
      })
      .catch((error: unknown): DailyOutcome => {
        if (isDianaError(error, DAILY_CLAIMED))
          return { kind: 'wait', wait_ms: Number((error.context as { wait_ms: number }).wait_ms) };
        throw error;
      });
  };
}
