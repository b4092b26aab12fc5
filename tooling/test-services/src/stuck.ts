// What a test database is doing when a test hangs. A test that runs out its timeout says only
// that it did: a hang seen once in CI (a statement through PgBouncer that never answered) could
// not be told from a lock wait or a starved pool afterwards. The watch prints one line naming
// every session of the database (state, wait, query) and, behind PgBouncer, its pools.
import postgres from '@diana/postgres';
import { afterEach, beforeEach, expect } from 'vitest';
import type { TestDatabase } from './postgres.js';

/** One line: the database's sessions and, when `url` goes through PgBouncer, its pool counts. */
export async function describeDatabase(
  db: Pick<TestDatabase, 'url' | 'direct_url' | 'name' | 'pooler'>,
): Promise<string> {
  const parts: string[] = [];
  const direct = postgres(db.direct_url, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    // one snapshot: each session with the sessions it waits for (pg_blocking_pids)
    const rows = await direct<
      { pid: number; state: string | null; wait: string | null; xact_s: number | null; query: string; by: number[] }[]
    >`
      select pid, state, wait_event_type || ':' || wait_event as wait, pg_blocking_pids(pid) as by,
             round(extract(epoch from now() - xact_start)::numeric, 1)::float8 as xact_s, left(query, 80) as query
      from pg_stat_activity where datname = ${db.name} and pid <> pg_backend_pid() order by xact_start nulls last`;
    const waits = rows.filter((r) => r.by.length > 0).length;
    const session = (r: (typeof rows)[number]) =>
      `${r.pid} ${r.state ?? '-'} ${r.wait ?? '-'} ${r.xact_s ?? '-'}s${r.by.length > 0 ? ` waits for ${r.by.join(',')}` : ''} «${r.query.replace(/\s+/g, ' ').trim()}»`;
    parts.push(`${rows.length} sessions, ${waits} lock waits: ${rows.map(session).join(' | ')}`);
  } catch (error) {
    parts.push(`pg_stat_activity failed: ${(error as Error).message}`);
  } finally {
    await direct.end({ timeout: 1 }).catch(() => {});
  }
  if (db.pooler === 'pgbouncer') {
    const url = new URL(db.url);
    url.pathname = '/pgbouncer';
    url.search = ''; // no ?pgbouncer=true: PgBouncer refuses unknown startup parameters
    // the admin console answers only simple queries: no type fetch at connect
    const admin = postgres(url.toString(), {
      max: 1,
      onnotice: () => {},
      connect_timeout: 5,
      prepare: false,
      fetch_types: false,
    });
    try {
      const pools = await admin.unsafe('SHOW POOLS').simple();
      for (const p of pools as unknown as Array<Record<string, unknown>>)
        if (p.database === db.name)
          parts.push(
            `pgbouncer: cl_active ${p.cl_active} cl_waiting ${p.cl_waiting} sv_active ${p.sv_active} sv_idle ${p.sv_idle} sv_used ${p.sv_used} maxwait ${p.maxwait}s`,
          );
    } catch (error) {
      parts.push(`SHOW POOLS failed: ${(error as Error).message}`);
    } finally {
      await admin.end({ timeout: 1 }).catch(() => {});
    }
  }
  return parts.join(' — ');
}

/**
 * Each test of the file still running after `after_ms` prints `stuck test: <name> after N s — …`
 * (see `describeDatabase`) on stderr, once, and goes on; vitest's own timeout still ends it.
 */
export function watchStuckTests(db: TestDatabase, after_ms = 20_000): void {
  let timer: NodeJS.Timeout | undefined;
  beforeEach(() => {
    const name = expect.getState().currentTestName ?? '(unknown)';
    timer = setTimeout(() => {
      void describeDatabase(db).then((line) =>
        console.error(`stuck test: ${name} after ${Math.round(after_ms / 1000)} s — ${line}`),
      );
    }, after_ms);
    timer.unref();
  });
  afterEach(() => clearTimeout(timer));
}
