// An update that meets PostgreSQL down (restarting, PgBouncer restarting, a failover) as it
// arrives waits for it, up to `bot.outage_wait_ms`, instead of getting the apology at once: its
// first steps — reading the sender's row, creating or refreshing it — are safe to do again (a
// read; an upsert whose `user.registered` goes in its transaction, so a second run after an
// unknown COMMIT finds the row and publishes nothing). A stranger's 3 s PgBouncer restart gave 59
// users "Algo salió mal" for updates a few seconds' wait would have served; Telegram does not
// send an answered update again. Past the wait the update fails as before. Beyond these steps,
// every statement and transaction that finds no connection to open (nothing sent) waits in the
// pool (`database.connect_wait_ms`, set to this wait: backends.ts); only these first steps are
// also run again when a connection breaks under them — a module's handler that wrote something
// may not be safe to run twice.
import { isConnectFailure } from '@diana/db';
import { createBackoff, isUnavailable, type Logger, sleep } from '@diana/utils';

/** Waits out a backend outage around `work`, which must be safe to run again. */
export type OutageWait = <T>(work: () => Promise<T>) => Promise<T>;

/**
 * Runs `work`; while it fails because a backend is down (`isUnavailable`), runs it again after a
 * backoff of 100 ms doubling to 1 s, until it succeeds, fails otherwise, or `wait_ms` has passed
 * (then its last error). `wait_ms: 0` runs it once. A failure to open a connection at all is not
 * run again: the pool has waited for the server already (`connect_wait_ms`, at least this wait)
 * — running it again started a second whole wait (a stranger saw apologies 20 s after arrival).
 */
export function createOutageWait(wait_ms: number, logger: Logger): OutageWait {
  return async (work) => {
    // the usual case, one try, allocates nothing more (it runs on most updates)
    const started = Date.now();
    let next: (() => number) | undefined;
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await work();
        if (attempt > 1) logger.debug({ attempts: attempt }, 'an update waited out a backend outage');
        return result;
      } catch (error) {
        if (!isUnavailable(error) || isConnectFailure(error)) throw error;
        next ??= createBackoff({ base_ms: 100, max_ms: 1_000 });
        const delay = next();
        if (Date.now() + delay > started + wait_ms) throw error;
        await sleep(delay);
      }
    }
  };
}
