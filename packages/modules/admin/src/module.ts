// The admin module: builds the kit every staff command shares, registers the commands (one
// file each under commands/) on one composer, and runs the jobs loop.
import { createUserRepository } from '@diana/db';
import type { DianaModule } from '@diana/event-bus';
import { createFailureStreak, getPackageLogger, runPeriodically, SYSTEM_CLOCK } from '@diana/utils';
import { Composer } from 'grammy';
import { registerAudit } from './commands/audit.js';
import { registerBesitos } from './commands/besitos.js';
import { registerCancelVip } from './commands/cancel-vip.js';
import { registerConfig } from './commands/config.js';
import { registerDlq } from './commands/dlq.js';
import { registerHelp } from './commands/help.js';
import { registerPosts } from './commands/posts.js';
import { registerRedeem } from './commands/redeem.js';
import { registerRoles } from './commands/roles.js';
import { registerStats } from './commands/stats.js';
import { registerTariffs } from './commands/tariffs.js';
import { createSubscriptionLookup, registerUsers } from './commands/users.js';
import { createJobs, type JobsPass } from './jobs.js';
import { type AdminContext, type AdminDeps, type AdminSettings, createKit } from './kit.js';
import { ADMIN_MIGRATIONS } from './migrations.js';

export { splitButtons } from './commands/posts.js';
export type { AdminContext, AdminDeps, AdminSettings } from './kit.js';

/**
 * The staff module. Its `subscriptions`: `gamification.adjustment_applied`, told to the admin who
 * asked for it; `start()` runs the jobs every `job_interval_ms`.
 */
export interface AdminModule extends DianaModule<Composer<AdminContext>> {
  /**
   * Makes `users.role` agree with the owners setting: every OWNER whose Telegram id is not in
   * `owner_telegram_ids` becomes ADMIN, audited (`role`, actor `system`) with
   * `admin.role_changed`. Nothing else can demote an OWNER (`/rol` never touches one), so the
   * app runs this at start. Safe with several processes starting at once. Returns who changed.
   */
  syncOwners(owner_telegram_ids: readonly number[]): Promise<Array<{ user_id: string; telegram_id: number }>>;
  /** The user's running VIP subscription (tariff name and end), or undefined: for the app's profile. */
  subscription(user_id: string): Promise<{ tariff: string; ends_at: Date } | undefined>;
  /** One pass of the subscription lifecycle, what the VIP channel is owed and the scheduled posts (safe with several processes). */
  runJobs(): Promise<JobsPass>;
  /** Runs `runJobs` every `interval_ms` until `close` (`start()` does, with `job_interval_ms`). */
  startJobs(interval_ms?: number): void;
  /** The jobs loop for readiness: started and not closed, failed passes in a row, last pass that succeeded. */
  jobsStatus(): { running: boolean; consecutive_failures: number; last_ok_at: number | undefined };
}

export function createAdminModule(settings: AdminSettings, deps: AdminDeps): AdminModule {
  const logger = getPackageLogger(deps.logger, 'admin');
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const kit = createKit(settings, deps, { users: createUserRepository(deps.db), clock, logger });
  const subscription = createSubscriptionLookup(deps.db, kit.now);

  const composer = new Composer<AdminContext>();
  registerHelp(composer, kit);
  const { syncOwners } = registerRoles(composer, kit);
  registerTariffs(composer, kit);
  registerRedeem(composer, kit);
  registerCancelVip(composer, kit);
  registerPosts(composer, kit);
  registerConfig(composer, kit);
  const subscriptions = registerBesitos(composer, kit);
  registerUsers(composer, kit, subscription);
  registerAudit(composer, kit);
  registerStats(composer, kit);
  registerDlq(composer, kit);

  const runJobs = createJobs(kit);
  const stop = new AbortController();
  let running: Promise<void> | undefined;
  let last_ok_at: number | undefined;
  // A pass that fails (PostgreSQL down) is tried again at the next one: the first failure is a
  // warning, the next ones debug (a warning again each minute they go on), one line at the end.
  const failures = createFailureStreak({
    logger,
    message: 'admin jobs failed; trying again at the next pass',
    recovered: 'admin jobs work again',
  });

  const close = async () => {
    stop.abort();
    await running;
  };
  const startJobs = (interval_ms = 30_000) => {
    if (running || stop.signal.aborted) return;
    running = runPeriodically({ interval_ms, signal: stop.signal, failures }, async () => {
      await runJobs();
      last_ok_at = Date.now();
    });
  };

  return {
    name: 'admin',
    composer,
    subscriptions,
    migrations: ADMIN_MIGRATIONS,
    syncOwners,
    subscription,
    runJobs,
    startJobs,
    start: async () => startJobs(settings.job_interval_ms),
    jobsStatus: () => ({
      running: running !== undefined && !stop.signal.aborted,
      consecutive_failures: failures.failures,
      last_ok_at,
    }),
    close,
    [Symbol.asyncDispose]: close,
  };
}
