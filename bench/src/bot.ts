// pnpm bench:bot — open-loop load through the whole bot in one process on real PostgreSQL and
// Redis (Telegram replaced by a recording transformer): a mix of /start (new users), decision
// taps and free text offered at a fixed rate, each update started on schedule whatever the
// others do. Reports handler latency and the process's CPU time per update at 100 updates/s,
// beside its floor (the same round trips with no work: `round-trip-floor.ts`), then a CPU
// profile of another round under bench/out/ with its top 15 self-time entries (at 100/s, or at
// `--profile-rate N`), then raises the rate to saturation.
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp } from '@diana/bot/app';
import { SETTINGS_SCHEMAS } from '@diana/bot/config';
import { loadSettings } from '@diana/config';
import { createTestDatabase, deleteByPrefix, findPgSocket, getRedisUrl, startRedis } from '@diana/test-services';
import { SILENT_LOGGER } from '@diana/utils';
import type { Transformer } from 'grammy';
import type { Update, UserFromGetMe } from 'grammy/types';
import { startAllocationProfile } from './alloc-profile.js';
import { getPeakRssMb, openLoop, percentile, printGoal, SHORT, scaled } from './harness.js';
import { startPerf } from './perf-split.js';
import { countPgStatements } from './pg-statements.js';
import { startProfile } from './profile.js';
import { countRedisCommands } from './redis-commands.js';
import { measureRoundTripFloor } from './round-trip-floor.js';
import { measureServerCpu } from './server-cpu.js';
import { countSocketIo, type ServerAddress } from './socket-io.js';

const out = (line: string) => process.stdout.write(`${line}\n`);
// the profiles a run saves, under bench/out/ (git-ignored), dated
const outFile = (name: string) => new URL(`../out/${name}`, import.meta.url).pathname;
const today = () => new Date().toISOString().slice(0, 10);
// `--sockets`: the bot reaches PostgreSQL and Redis through Unix-domain sockets: PostgreSQL's
// own (`?host=` its `unix_socket_directories`) and that of a private `redis-server` started with
// one. `--private-redis` uses the same kind of private server over TCP, to pair the two.
const SOCKETS = process.argv.includes('--sockets');
// the private server's socket lives in its data directory (removed with it)
const privateRedis =
  SOCKETS || process.argv.includes('--private-redis')
    ? await startRedis({ args: ['--unixsocket', 'redis.sock', '--unixsocketperm', '700'] })
    : undefined;
const redisSocket = privateRedis ? join(privateRedis.dir, 'redis.sock') : '';
const redisUrl = privateRedis?.url ?? (await getRedisUrl());
const prefix = `bench:bot:${Date.now()}:`;
const testDb = await createTestDatabase('bench-bot');
const pgPort = Number(new URL(testDb.url).port || 5432);
const redisPort = Number(new URL(redisUrl).port || 6379);
const pgSocket = SOCKETS ? await findPgSocket(testDb.url) : undefined;
if (pgSocket && !pgSocket.here)
  throw new Error(`--sockets: the server's socket (${pgSocket.path}) is not on this machine`);
// the URLs the bot (and its floor) connect with, and what its sockets are counted by
const botDbUrl = pgSocket ? `${testDb.url}?host=${pgSocket.dir}` : testDb.url;
const botRedisUrl = SOCKETS ? `unix://${redisSocket}` : redisUrl;
const pgServer: ServerAddress = pgSocket ? pgSocket.path : pgPort;
const redisServer: ServerAddress = SOCKETS ? redisSocket : redisPort;
const dataDir = mkdtempSync(join(tmpdir(), 'diana-bench-'));
const settings = loadSettings(
  SETTINGS_SCHEMAS,
  {
    DIANA_DATABASE_URL: botDbUrl,
    DIANA_REDIS_URL: botRedisUrl,
    DIANA_BOT_TELEGRAM_BOT_TOKEN: '123456:bench',
    DIANA_BOT_DATA_DIR: dataDir,
    DIANA_SECURITY_CALLBACK_SECRET: 'b'.repeat(40),
    DIANA_SECURITY_TOKEN_PEPPER: 'p'.repeat(40),
    DIANA_EVENT_BUS_STREAM_PREFIX: `${prefix}ev:`,
    DIANA_CACHE_KEY_PREFIX: `${prefix}cache:`,
    DIANA_USER_STATE_KEY_PREFIX: `${prefix}us:`,
    DIANA_SECURITY_RATE_LIMIT_PREFIX: `${prefix}rl:`,
  },
  { env_file: false },
);
// the last keyboard each chat was sent: label → callback data
const keyboards = new Map<number, string[]>();
const recorder: Transformer = async (_prev, method, payload) => {
  const p = payload as {
    chat_id?: number;
    reply_markup?: { inline_keyboard?: Array<Array<{ callback_data?: string }>> };
  };
  const buttons = (p.reply_markup?.inline_keyboard ?? []).flat().map((b) => b.callback_data ?? '');
  if (typeof p.chat_id === 'number' && buttons.length > 0) keyboards.set(p.chat_id, buttons);
  return {
    ok: true,
    result: method === 'sendMessage' ? { message_id: 1, date: 0, chat: { id: p.chat_id, type: 'private' } } : true,
  } as never;
};
const botInfo = { id: 1, is_bot: true, first_name: 'Diana', username: 'diana_bench_bot' } as UserFromGetMe;
// the servers' CPU time (PostgreSQL's processes, the Redis server), to tell the machine's bound
// from the bot's: all three share this machine's cores
const servers = measureServerCpu(redisPort);
const CORES = availableParallelism();
const io = countSocketIo({ postgres: pgServer, redis: redisServer });
// `--statements`: count PostgreSQL statements and show which an update pays for (off by
// default: reading every buffer written costs the process a little CPU of its own)
const COUNTING = process.argv.includes('--statements');
// `--profile-rate N`: the profiled round runs at N updates/s (default 100)
const profileAt = process.argv.indexOf('--profile-rate');
const PROFILE_RATE = profileAt > 0 ? Number(process.argv[profileAt + 1]) : 100;
if (!(PROFILE_RATE > 0)) throw new Error('--profile-rate takes a rate in updates/s, e.g. --profile-rate 500');
const statements = COUNTING
  ? countPgStatements(pgServer)
  : { take: () => ({ total: Number.NaN, by_text: new Map<string, number>() }) };
// `--commands`: count the Redis commands the server ran, by name (its statistics: reset, so
// off by default and only with nothing else using that server)
const commands = process.argv.includes('--commands') ? await countRedisCommands(redisUrl) : undefined;
const app = await createApp(settings, { logger: SILENT_LOGGER, botInfo, apiTransformer: recorder });

let updateId = 0;
let nextUser = 10_000_000;
const started: number[] = [];
const from = (id: number) => ({ id, is_bot: false, first_name: `U${id}` });
const chat = (id: number) => ({ id, type: 'private' as const, first_name: 'U' });
/** One update of the mix: 20% /start of a new user, 60% a tap on a shown button, 20% text. */
function nextUpdate(): Update {
  const roll = Math.random();
  const id = ++updateId;
  if (roll < 0.2 || started.length === 0) {
    const user = nextUser++;
    started.push(user);
    return {
      update_id: id,
      message: {
        message_id: id,
        date: 0,
        chat: chat(user),
        from: from(user),
        text: '/start',
        entities: [{ type: 'bot_command', offset: 0, length: 6 }],
      },
    } as Update;
  }
  const user = started[Math.floor(Math.random() * started.length)] as number;
  const buttons = keyboards.get(user) ?? [];
  if (roll < 0.8 && buttons.length > 0)
    return {
      update_id: id,
      callback_query: {
        id: String(id),
        from: from(user),
        chat_instance: 'c',
        data: buttons[Math.floor(Math.random() * buttons.length)],
        message: { message_id: 1, date: 0, chat: chat(user) },
      },
    } as Update;
  return {
    update_id: id,
    message: { message_id: id, date: 0, chat: chat(user), from: from(user), text: 'hola, Diana' },
  } as Update;
}

/** Offers `rate` updates/s for `seconds`, open loop; latencies of every update. */
async function offer(rate: number, seconds: number) {
  const latencies: number[] = [];
  const total = rate * seconds;
  const begin = performance.now();
  const cpuBefore = process.cpuUsage();
  io.take();
  statements.take();
  await commands?.take();
  servers.take();
  let errors = 0;
  await openLoop(rate, total, () => {
    const t0 = performance.now();
    return app.handleUpdate(nextUpdate()).then(
      () => void latencies.push(performance.now() - t0),
      () => void errors++,
    );
  });
  const elapsed = (performance.now() - begin) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  const server = servers.take();
  const perUpdate = (n: number) => n / Math.max(1, latencies.length);
  const botMs = (cpu.user + cpu.system) / 1000;
  const { writes, reads } = io.take();
  const sent = statements.take();
  const ran = await commands?.take();
  latencies.sort((a, b) => a - b);
  return {
    rate,
    achieved: total / elapsed,
    p50: percentile(latencies, 0.5),
    p95: percentile(latencies, 0.95),
    p99: percentile(latencies, 0.99),
    errors,
    cpu: botMs / (elapsed * 1000),
    /** CPU time of this process per handled update, ms. */
    cpu_per_update_ms: perUpdate(botMs),
    /** The servers' CPU time per handled update, ms (undefined without /proc). */
    postgres_per_update_ms: server && perUpdate(server.postgres_ms),
    redis_per_update_ms: server && perUpdate(server.redis_ms),
    /** The bot and both servers together, as a share of the machine's cores. */
    three: server && (botMs + server.postgres_ms + server.redis_ms) / (elapsed * 1000) / CORES,
    /** The whole machine's busy share (every process, the kernel). */
    machine: server?.machine_busy,
    /** Of it, the kernel's share (system calls: socket writes and reads, timers). */
    system_per_update_ms: perUpdate(cpu.system / 1000),
    /** Socket writes (≈ round trips) per handled update, this process's consumers and relay included. */
    pg_writes: perUpdate(writes.postgres ?? 0),
    redis_writes: perUpdate(writes.redis ?? 0),
    /** Socket reads (chunks handed up: answers, NOTIFYs, blocking reads' replies) per handled update. */
    pg_reads: perUpdate(reads.postgres ?? 0),
    redis_reads: perUpdate(reads.redis ?? 0),
    /** PostgreSQL statements per handled update (Execute and Query messages sent). */
    pg_statements: perUpdate(sent.total),
    /** Per Redis command, how many per handled update, most first (`--commands`). */
    command_mix: [...(ran?.by_name ?? [])]
      .map(([name, n]) => [name, perUpdate(n)] as const)
      .sort((a, b) => b[1] - a[1]),
    /** Per statement text, how many per handled update, most first. */
    statement_mix: [...sent.by_text].map(([text, n]) => [text, perUpdate(n)] as const).sort((a, b) => b[1] - a[1]),
  };
}
/** The process's CPU and socket writes and reads per second while no update is offered. */
async function idleRound(seconds: number) {
  // let what the warm-up started drain first (its consumers, relay passes and notices)
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  io.take();
  const before = process.cpuUsage();
  const begin = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1_000));
  const elapsed = (performance.now() - begin) / 1000;
  const cpu = process.cpuUsage(before);
  const { writes, reads } = io.take();
  return {
    seconds,
    cpu_ms_per_s: (cpu.user + cpu.system) / 1000 / elapsed,
    system_ms_per_s: cpu.system / 1000 / elapsed,
    pg_writes_per_s: (writes.postgres ?? 0) / elapsed,
    redis_writes_per_s: (writes.redis ?? 0) / elapsed,
    pg_reads_per_s: (reads.postgres ?? 0) / elapsed,
    redis_reads_per_s: (reads.redis ?? 0) / elapsed,
  };
}
const show = (r: Awaited<ReturnType<typeof offer>>) =>
  out(
    `  offered ${String(r.rate).padStart(4)}/s  achieved ${r.achieved.toFixed(0).padStart(4)}/s  p50 ${r.p50.toFixed(1)} ms  p95 ${r.p95.toFixed(1)} ms  p99 ${r.p99.toFixed(1)} ms  errors ${r.errors}  CPU ${(r.cpu * 100).toFixed(0)}% = ${r.cpu_per_update_ms.toFixed(2)} ms/update (system ${r.system_per_update_ms.toFixed(2)})  writes/update: PostgreSQL ${r.pg_writes.toFixed(1)}, Redis ${r.redis_writes.toFixed(1)}  reads/update: PostgreSQL ${r.pg_reads.toFixed(1)}, Redis ${r.redis_reads.toFixed(1)}${r.machine === undefined ? '' : `  servers' CPU ms/update: PostgreSQL ${r.postgres_per_update_ms?.toFixed(2)}, Redis ${r.redis_per_update_ms?.toFixed(2)}; the three ${((r.three ?? 0) * 100).toFixed(0)}% of ${CORES} cores, the machine ${(r.machine * 100).toFixed(0)}% busy`}${COUNTING ? `  PostgreSQL statements/update ${r.pg_statements.toFixed(1)}` : ''}`,
  );

try {
  out(
    `Open-loop load through the whole bot (mix: 20% /start, 60% decision taps, 20% text), one process; PostgreSQL and ${privateRedis ? 'a private' : 'the shared'} Redis over ${SOCKETS ? 'Unix-domain sockets' : 'TCP'}`,
  );
  await offer(50, scaled(4, 2)); // warm-up
  // what the process spends with nothing offered (consumers' blocking reads, the relay's and the
  // limiter's timers, metrics): at 100/s, a hundredth of it per second lands on each update
  const idle = await idleRound(scaled(5, 2));
  out(
    `  idle (nothing offered, ${idle.seconds} s): CPU ${(idle.cpu_ms_per_s / 10).toFixed(1)}% = ${idle.cpu_ms_per_s.toFixed(1)} ms/s (system ${idle.system_ms_per_s.toFixed(1)})  writes/s: PostgreSQL ${idle.pg_writes_per_s.toFixed(1)}, Redis ${idle.redis_writes_per_s.toFixed(1)}  reads/s: PostgreSQL ${idle.pg_reads_per_s.toFixed(1)}, Redis ${idle.redis_reads_per_s.toFixed(1)}  (Node ${process.versions.node})`,
  );
  const target = await offer(100, scaled(20, 5));
  show(target);
  // the same number of round trips with no work at all, in this hour: the bot's floor
  const trips = { pg: Math.round(target.pg_writes), redis: Math.round(target.redis_writes) };
  const floor = await measureRoundTripFloor({
    postgres_url: botDbUrl,
    redis_url: botRedisUrl,
    rate: 100,
    seconds: scaled(10, 3),
    ...trips,
  });
  out(
    `  floor: ${trips.pg} PostgreSQL and ${trips.redis} Redis round trips per update, one after another with no work, at 100/s: ${floor.toFixed(2)} ms of CPU per update; the bot ×${(target.cpu_per_update_ms / floor).toFixed(2)} of it`,
  );
  if (COUNTING) {
    out('\n  PostgreSQL statements per update at 100/s, by text:');
    for (const [text, n] of target.statement_mix) out(`    ${n.toFixed(2).padStart(6)}  ${text}`);
  }
  if (commands) {
    out("\n  Redis commands per update at 100/s (the server's count), by name:");
    for (const [name, n] of target.command_mix) out(`    ${n.toFixed(2).padStart(6)}  ${name}`);
  }
  // the profile is taken over a round of its own, so its overhead stays out of the figures above
  const profile = await startProfile();
  await offer(PROFILE_RATE, scaled(10, 3));
  const profilePath = outFile(`bot-${PROFILE_RATE}-per-s-${today()}.cpuprofile`);
  const top = await profile.stop(profilePath);
  out(`\n  CPU profile of a further ${PROFILE_RATE}/s round: ${profilePath} (top 15 by self time)`);
  for (const entry of top)
    out(
      `    ${entry.self_ms.toFixed(0).padStart(6)} ms  ${(entry.share * 100).toFixed(1).padStart(5)}%  ${entry.name}`,
    );
  // `--perf`: a further 100/s round sampled by Linux perf, every thread, user and kernel time
  if (process.argv.includes('--perf')) {
    const perfPath = outFile(`bot-100-per-s-${today()}.perf.data`);
    const perf = await startPerf(perfPath);
    if (!perf) out('\n  --perf: `perf` is not installed (apt-get install linux-perf); no split');
    else {
      const round = await offer(100, scaled(10, 3));
      const split = await perf.stop();
      out(
        `\n  Where the CPU time of a further 100/s round goes (perf, ${split.samples} samples at 999 Hz, ${perfPath}): ${round.cpu_per_update_ms.toFixed(2)} ms/update, main thread ${(split.main_thread * 100).toFixed(0)}%`,
      );
      for (const { kind, share } of split.kinds.slice(0, 20))
        out(
          `    ${(share * 100).toFixed(1).padStart(5)}%  ${(share * round.cpu_per_update_ms).toFixed(2).padStart(5)} ms/update  ${kind}`,
        );
    }
  }
  // `--alloc`: a further 100/s round with V8's sampling heap profiler: bytes allocated per update
  // and where (every allocation counts, freed or not: the scavenges they cause are CPU time)
  if (process.argv.includes('--alloc')) {
    const allocPath = outFile(`bot-100-per-s-${today()}.heapprofile`);
    const sampling = await startAllocationProfile();
    const seconds = scaled(10, 3);
    await offer(100, seconds);
    const allocated = await sampling.stop(allocPath);
    const updates = 100 * seconds;
    out(
      `\n  Allocations of a further 100/s round (${allocPath}): ${(allocated.total_bytes / updates / 1024).toFixed(0)} KB per update; top 15 sites by bytes`,
    );
    for (const site of allocated.top)
      out(
        `    ${(site.bytes / updates / 1024).toFixed(1).padStart(6)} KB/update  ${(site.share * 100).toFixed(1).padStart(5)}%  ${site.name}`,
      );
  }
  // `--at-100`: the 100/s figures and the profile alone (for comparing one change)
  const rates = process.argv.includes('--at-100') ? [] : SHORT ? [200, 500] : [200, 300, 400, 500, 600, 800];
  if (rates.length > 0) out('\nRaising the offered rate until p99 > 400 ms or the bot falls behind:');
  // the 100/s round counts as sustained when it held
  let saturation = target.p99 <= 400 && target.achieved >= 90 ? 100 : 0;
  let last = target;
  for (const rate of rates) {
    const r = await offer(rate, scaled(8, 3));
    show(r);
    last = r;
    if (r.p99 > 400 || r.achieved < rate * 0.9) break;
    saturation = rate;
  }
  out(`\n  saturation: about ${saturation} updates/s sustained with p99 ≤ 400 ms`);
  // the bot shares the machine with its servers: whether its own thread or the machine bounds it
  if (last.machine !== undefined)
    out(
      `  the last round (${last.rate}/s): the bot's process used ${(last.cpu * 100).toFixed(0)}% of one core; the bot, PostgreSQL and Redis ${((last.three ?? 0) * 100).toFixed(0)}% of the machine's ${CORES} cores, and the machine was ${(last.machine * 100).toFixed(0)}% busy`,
    );
  out('');
  // goals of issue #21
  printGoal(
    `≤ 2 ms of CPU per update at 100/s (measured ${target.cpu_per_update_ms.toFixed(2)} ms)`,
    target.cpu_per_update_ms <= 2,
  );
  printGoal(`at 100 updates/s handler p95 ≤ 50 ms (measured ${target.p95.toFixed(1)} ms)`, target.p95 <= 50);
  printGoal(`≥ 500 updates/s sustained with p99 ≤ 400 ms (measured about ${saturation}/s)`, saturation >= 500);
  out(`\npeak RSS ${getPeakRssMb().toFixed(0)} MB`);
} finally {
  await commands?.close();
  await app.close({ timeout_ms: 5_000 });
  await testDb.drop();
  if (privateRedis) await privateRedis.stop();
  else await deleteByPrefix(redisUrl, prefix);
  rmSync(dataDir, { recursive: true, force: true });
}
