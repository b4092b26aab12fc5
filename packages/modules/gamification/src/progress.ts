// Missions and achievements: counters moved by events inside the event's own transaction, so a
// redelivered event (already in the inbox) never counts twice; completion pays once.
import type { EventBusService, EventRegistry } from '@diana/event-bus';
import type { TransactionSql } from '@diana/postgres';
import type { GAMIFICATION_EVENTS } from './events.js';
import type { Ledger } from './ledger.js';
import type { ACHIEVEMENTS, MISSIONS } from './templates.js';

type Mission = (typeof MISSIONS.defaults)[number];
type Achievement = (typeof ACHIEVEMENTS.defaults)[number];

/** The period a mission's progress belongs to, in the bot's timezone. */
export function periodOf(kind: Mission['kind'], timezone: string, now = new Date()): string {
  const day = dayFormat(timezone).format(now);
  if (kind === 'daily') return day;
  if (kind === 'weekly') {
    const date = new Date(`${day}T00:00:00Z`);
    const weekday = (date.getUTCDay() + 6) % 7; // Monday = 0
    date.setUTCDate(date.getUTCDate() - weekday);
    return `week-${date.toISOString().slice(0, 10)}`;
  }
  return 'all';
}

export function createProgress(deps: {
  ledger: Ledger;
  bus: EventBusService<EventRegistry & typeof GAMIFICATION_EVENTS>;
  timezone: string;
  missions: () => readonly Mission[];
  achievements: () => readonly Achievement[];
}) {
  return {
    /**
     * Counts one `event` of `user_id`, in the period of `at` (when it happened; default now);
     * pays missions and achievements it completes (once). Locks the user's balance row first.
     */
    async count(tx: TransactionSql, user_id: string, event: string, at = new Date()): Promise<void> {
      const missions = deps
        .missions()
        .filter((m) => m.event === event)
        .map((mission) => ({ mission, period: periodOf(mission.kind, deps.timezone, at) }));
      const relevant = deps.achievements().filter((a) => a.event === event);
      // Every counter the event moves, in one write (they are independent rows); what they
      // complete is paid after, missions first, as each result says.
      const progress = missions.map(
        ({ mission, period }) => tx<{ count: number; completed_at: Date | null }[]>`
          insert into gamification_mission_progress (user_id, mission_id, period, count) values (${user_id}, ${mission.id}, ${period}, 1)
          on conflict (user_id, mission_id, period) do update set count = gamification_mission_progress.count + 1
          returning count, completed_at`,
      );
      // the counter and every achievement it reaches in one statement; `unlocked` lists the ones
      // this count unlocked now (inserted), not those unlocked before
      const counting =
        relevant.length === 0
          ? undefined
          : tx<{ count: number; unlocked: string[] }[]>`
        with counted as (
          insert into gamification_counters (user_id, counter, count) values (${user_id}, ${event}, 1)
          on conflict (user_id, counter) do update set count = gamification_counters.count + 1 returning count
        ), unlocked as (
          insert into gamification_achievements (user_id, achievement_id)
          select ${user_id}, reached.id
          from counted, unnest(${relevant.map((a) => a.id)}::text[], ${relevant.map((a) => a.threshold)}::int[])
               as reached (id, threshold)
          where counted.count >= reached.threshold
          on conflict do nothing
          returning achievement_id
        )
        select counted.count, array(select achievement_id from unlocked) as unlocked from counted`;
      // The user's balance row is locked (created if missing) before any counter, in the same
      // write: the order every payment takes, so two events of one user never hold one each and
      // wait for the other (an event paying nothing used to lock the counters first, then the
      // balance row when it completed something: a deadlock against one that paid)
      const [, counted, ...rows] = await Promise.all([deps.ledger.lock(tx, user_id), counting, ...progress]);
      for (const [i, { mission, period }] of missions.entries()) {
        const [row] = rows[i] ?? [];
        if (row && row.count >= mission.target && row.completed_at === null) {
          await tx`update gamification_mission_progress set completed_at = now()
                   where user_id = ${user_id} and mission_id = ${mission.id} and period = ${period}`;
          const paid =
            mission.reward > 0
              ? await deps.ledger.award(tx, {
                  user_id,
                  amount: mission.reward,
                  source: `mission:${mission.id}`,
                  source_event_id: `mission:${mission.id}:${period}:${user_id}`,
                  at,
                })
              : undefined;
          await deps.bus.publish(
            'gamification.mission_completed',
            { user_id, mission: mission.id, period, reward: mission.reward, paid: paid?.paid ?? 0 },
            { key: user_id, user_id },
          );
        }
      }
      const [counter] = counted ?? [];
      const unlocked = new Set(counter?.unlocked ?? []);
      for (const achievement of relevant) {
        if (!unlocked.has(achievement.id)) continue;
        const paid =
          achievement.reward > 0
            ? await deps.ledger.award(tx, {
                user_id,
                amount: achievement.reward,
                source: `achievement:${achievement.id}`,
                source_event_id: `achievement:${achievement.id}:${user_id}`,
                at,
              })
            : undefined;
        await deps.bus.publish(
          'gamification.achievement_unlocked',
          { user_id, achievement: achievement.id, reward: achievement.reward, paid: paid?.paid ?? 0 },
          { key: user_id, user_id },
        );
      }
    },
  };
}

// An Intl.DateTimeFormat costs far more to build than to use (it was 0.8% of the bot's CPU
// profile at 100 updates/s, built per mission per event): one per time zone, for the process's life.
const DAY_FORMATS = new Map<string, Intl.DateTimeFormat>();
function dayFormat(timezone: string): Intl.DateTimeFormat {
  let format = DAY_FORMATS.get(timezone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-CA', {
      timeZone: timezone,
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
    });
    DAY_FORMATS.set(timezone, format);
  }
  return format;
}
