// What a user reads about their own economy: missions with progress, achievements (unlocked and
// what the locked ones need), the last movements of besitos, and the summary the profile shows.
// Each screen is HTML text; every configured title and admin note is escaped here.
import type { Database } from '@diana/db';
import { escapeHtml, oneLine } from '@diana/security';
import { formatBesitos } from '@diana/utils';
import { streakHolds } from './daily.js';
import { packMessages } from './messages.js';
import { periodOf } from './progress.js';
import type { ACHIEVEMENTS, MISSIONS, SHOP } from './templates.js';
import { TEXTS } from './texts.js';

type Mission = (typeof MISSIONS.defaults)[number];
type Achievement = (typeof ACHIEVEMENTS.defaults)[number];
type Item = (typeof SHOP.defaults)[number];

/** How many movements a page of `/historial` shows. */
export const HISTORY_LIMIT = 10;

export interface ScreenDeps {
  readonly db: Database;
  readonly timezone: string;
  readonly missions: () => readonly Mission[];
  readonly achievements: () => readonly Achievement[];
  readonly shop: () => readonly Item[];
}

export function createScreens(deps: ScreenDeps) {
  const { db, timezone } = deps;
  const dayMonth = new Intl.DateTimeFormat('es', { timeZone: timezone, day: 'numeric', month: 'long' });
  const stamp = new Intl.DateTimeFormat('es', {
    timeZone: timezone,
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
  });
  const missionTitle = (id: string) => deps.missions().find((m) => m.id === id)?.title ?? id;
  const achievementTitle = (id: string) => deps.achievements().find((a) => a.id === id)?.title ?? id;
  const itemName = (id: string) => deps.shop().find((i) => i.id === id)?.name ?? id;
  const reward = (amount: number) => (amount > 0 ? formatBesitos(amount) : '');

  /** Why a ledger movement happened, in words (escaped HTML). */
  const reasonOf = (source: string, note: string | null) => {
    const s = TEXTS.source;
    const [kind = '', id = ''] = source.split(/:(.*)/s);
    // a note written before reasons were normalized may hold control characters
    if (kind === 'admin') return escapeHtml(note ? TEXTS.adminNote(oneLine(note)) : s.admin);
    if (kind === 'mission') return escapeHtml(s.mission(missionTitle(id)));
    if (kind === 'achievement') return escapeHtml(s.achievement(achievementTitle(id)));
    if (kind === 'shop') return escapeHtml(s.shop(itemName(id)));
    const known = s[kind as 'welcome' | 'daily' | 'decision' | 'fragment' | 'reaction'];
    return escapeHtml(typeof known === 'string' ? known : s.other(source));
  };

  return {
    missionTitle,
    achievementTitle,

    /** `/misiones`: each mission of its current period with count/target, or done (as many messages as fit). */
    async missions(user_id: string): Promise<string[]> {
      const missions = deps.missions();
      if (missions.length === 0) return [TEXTS.missionsEmpty];
      const periods = missions.map((m) => periodOf(m.kind, timezone));
      const rows = await db.sql<{ mission_id: string; period: string; count: number; completed_at: Date | null }[]>`
        select mission_id, period, count, completed_at from gamification_mission_progress
        where user_id = ${user_id} and period = any(${periods}::text[])`;
      const lines = missions.map((m, i) => {
        const row = rows.find((r) => r.mission_id === m.id && r.period === periods[i]);
        const period = TEXTS.missionPeriod[m.kind] ?? m.kind;
        if (row?.completed_at) return TEXTS.missionDone(escapeHtml(m.title), period);
        const count = Math.min(row?.count ?? 0, m.target);
        return TEXTS.missionOpen(escapeHtml(m.title), count, m.target, period, reward(m.reward));
      });
      return packMessages(TEXTS.missionsTitle, lines, (line) => line).map((m) => m.text);
    },

    /** `/logros`: unlocked first (with the date), then the locked ones with what they need (as many messages as fit). */
    async achievements(user_id: string): Promise<string[]> {
      const all = deps.achievements();
      if (all.length === 0) return [TEXTS.achievementsEmpty];
      const unlocked = await db.sql<{ achievement_id: string; unlocked_at: Date }[]>`
        select achievement_id, unlocked_at from gamification_achievements where user_id = ${user_id}`;
      const counters = await db.sql<{ counter: string; count: number }[]>`
        select counter, count from gamification_counters where user_id = ${user_id}`;
      const when = new Map(unlocked.map((u) => [u.achievement_id, u.unlocked_at]));
      const counts = new Map(counters.map((c) => [c.counter, c.count]));
      const done = all.filter((a) => when.has(a.id));
      const open = all.filter((a) => !when.has(a.id));
      const lines = [
        ...done.map((a) => TEXTS.achievementUnlocked(escapeHtml(a.title), dayMonth.format(when.get(a.id)))),
        ...open.map((a) =>
          TEXTS.achievementLocked(
            escapeHtml(a.title),
            Math.min(counts.get(a.event) ?? 0, a.threshold),
            a.threshold,
            TEXTS.howTo[a.event] ?? '',
            reward(a.reward),
          ),
        ),
      ];
      return packMessages(TEXTS.achievementsTitle(done.length, all.length), lines, (line) => line).map((m) => m.text);
    },

    /**
     * `/historial`: the movements of `page` (0: the last ten), newest first, dated in the bot's
     * timezone, and the balance; `older` when there are movements before them.
     */
    async history(user_id: string, balance: number, page = 0): Promise<{ text: string; older: boolean }> {
      const rows = await db.sql<{ amount: number; source: string; note: string | null; created_at: Date }[]>`
        select amount, source, note, created_at from besitos_transactions where user_id = ${user_id}
        order by created_at desc, id desc limit ${HISTORY_LIMIT + 1} offset ${page * HISTORY_LIMIT}`;
      if (rows.length === 0) return { text: page === 0 ? TEXTS.historyEmpty : TEXTS.historyNoOlder, older: false };
      const lines = rows
        .slice(0, HISTORY_LIMIT)
        .map((r) =>
          TEXTS.historyLine(
            stamp.format(r.created_at),
            `${r.amount > 0 ? '+' : '-'}${formatBesitos(Math.abs(r.amount))}`,
            reasonOf(r.source, r.note),
          ),
        );
      const title = page === 0 ? TEXTS.historyTitle : TEXTS.historyOlderTitle;
      return {
        text: [title, ...lines, '', TEXTS.historyBalance(formatBesitos(balance))].join('\n'),
        older: rows.length > HISTORY_LIMIT,
      };
    },

    /** The current daily-gift streak: its length while the next gift would continue it (`streakHolds`), else 0. */
    async streak(user_id: string): Promise<number> {
      // the database's clock, as the gift's: one clock for both
      const [row] = await db.sql<{ streak: number; last_claim_at: Date; now: Date }[]>`
        select streak, last_claim_at, now() as now from gamification_daily_gifts where user_id = ${user_id}`;
      return row && streakHolds(row.last_claim_at, row.now) ? row.streak : 0;
    },
  };
}
