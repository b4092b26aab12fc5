// pnpm bench:db-recovery — how soon statements that met PostgreSQL down are answered once it
// listens again. The server sits behind a proxy that stops listening for a while (a restart, a
// failover, PgBouncer restarting); a statement is sent every 100 ms meanwhile. Ours: the pool
// waits (`connect_wait_ms`), the caller writes nothing. The peers: stock postgres.js with the
// retry a caller would write around it (refused or timed-out connects tried again 100 ms
// doubling to 1 s apart, as ours), once with its own reconnect backoff (3× per failure, up to
// 10–20 s) and once with ours (`backoff` is a stock option: a reviewer's contender, which shows
// that the speed is that setting, and what the pool's wait adds is that callers need no retry).
// Rounds alternate; each prints when its statements were answered, counted from the moment the
// proxy listened again, and how many failed.
import { createPostgres } from '@diana/db';
import { createTestDatabase, startTcpProxy, type TcpProxy } from '@diana/test-services';
import { createBackoff, sleep } from '@diana/utils';
import postgres from 'postgres';
import { getPeakRssMb, percentile, SHORT } from './harness.js';

const OUTAGE_MS = SHORT ? 3_000 : 6_000;
const ROUNDS = SHORT ? 1 : 3;
const POOL = 4;
const EVERY_MS = 100;
const NO_CONNECTION = new Set(['ECONNREFUSED', 'CONNECT_TIMEOUT', 'ECONNRESET', 'CONNECTION_CLOSED']);

type Select = () => Promise<unknown>;
interface Contender {
  readonly name: string;
  /** A pool through `url`: a statement, and its end. */
  open(url: string): { select: Select; close: () => Promise<void> };
}

/** @diana/db's reconnect backoff (postgres.ts): seconds, by failures in a row. */
const OUR_BACKOFF = (retries: number) => (0.5 + Math.random() / 2) * Math.min(0.05 * 2 ** retries, 1);

/** Stock postgres.js (its `backoff` option given or not), each statement retried by its caller while no connection opens. */
function stockWithRetry(name: string, backoff?: (retries: number) => number): Contender {
  return {
    name,
    open(url) {
      const sql = postgres(url, { max: POOL, onnotice: () => {}, connect_timeout: 2, ...(backoff ? { backoff } : {}) });
      const select = async () => {
        const next = createBackoff({ base_ms: 100, max_ms: 1_000 });
        for (;;) {
          try {
            return await sql`select 1`;
          } catch (error) {
            if (!NO_CONNECTION.has((error as { code?: string }).code ?? '')) throw error;
            await sleep(next());
          }
        }
      };
      return { select, close: () => sql.end({ timeout: 1 }) };
    },
  };
}

const contenders: Contender[] = [
  {
    name: 'ours: the pool waits (connect_wait_ms)',
    open(url) {
      const db = createPostgres({ url, pool_max: POOL, connect_wait_ms: 60_000, application_name: 'bench-recovery' });
      return { select: () => db.sql`select 1`, close: () => db.close({ timeout_ms: 1_000 }) };
    },
  },
  stockWithRetry('stock postgres.js, the caller retries'),
  stockWithRetry('the same, with our reconnect backoff', OUR_BACKOFF),
];

const testDb = await createTestDatabase('bench-db-recovery');
const target = Number(new URL(testDb.url).port || 5432);
const through = (proxy: TcpProxy) => {
  const url = new URL(testDb.url);
  url.hostname = '127.0.0.1';
  url.port = String(proxy.port);
  return url.toString();
};

/** One outage: the times (ms after the proxy listened again) at which the statements sent during it were answered. */
async function outage(contender: Contender): Promise<{ answered: number[]; failed: number }> {
  await using proxy = await startTcpProxy(target);
  const pool = contender.open(through(proxy));
  try {
    await pool.select(); // connected before the fault
    await proxy.down();
    const sent: Promise<number | undefined>[] = [];
    let listened = 0;
    const sending = setInterval(() => {
      sent.push(
        pool.select().then(
          () => performance.now() - listened,
          () => undefined,
        ),
      );
    }, EVERY_MS);
    await sleep(OUTAGE_MS);
    clearInterval(sending);
    await proxy.up();
    listened = performance.now();
    const times = await Promise.all(sent);
    const answered = times.filter((t): t is number => t !== undefined);
    return { answered, failed: times.length - answered.length };
  } finally {
    await pool.close();
  }
}

try {
  process.stdout.write(
    `\nPostgreSQL down for ${OUTAGE_MS / 1000} s behind a proxy, a statement every ${EVERY_MS} ms meanwhile, pool ${POOL}; ${ROUNDS} alternating round(s) each\n` +
      '  answered after the server listened again: p50 / p90 / max (ms)\n',
  );
  const all = new Map<string, { answered: number[]; failed: number }>(
    contenders.map((c) => [c.name, { answered: [], failed: 0 }]),
  );
  for (let round = 0; round < ROUNDS; round++) {
    for (const contender of round % 2 ? [...contenders].reverse() : contenders) {
      const { answered, failed } = await outage(contender);
      const total = all.get(contender.name);
      if (total) {
        total.answered.push(...answered);
        total.failed += failed;
      }
    }
  }
  const p90s: number[] = [];
  for (const [name, { answered, failed }] of all) {
    const sorted = answered.sort((x, y) => x - y);
    p90s.push(percentile(sorted, 0.9));
    const cells = [percentile(sorted, 0.5), percentile(sorted, 0.9), sorted[sorted.length - 1] ?? 0];
    process.stdout.write(
      `  ${name.padEnd(42)} ${cells.map((ms) => ms.toFixed(0).padStart(6)).join(' /')}   answered ${sorted.length}, failed ${failed}\n`,
    );
  }
  const [ours = 1, stock = 0, same = 0] = p90s;
  process.stdout.write(
    `  p90 after the server was back: stock ×${(stock / Math.max(ours, 1)).toFixed(2)} ours, stock with our backoff ×${(same / Math.max(ours, 1)).toFixed(2)} ours\n`,
  );
  process.stdout.write(`\npeak RSS ${getPeakRssMb().toFixed(0)} MB\n`);
} finally {
  await testDb.drop();
}
