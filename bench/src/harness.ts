// Side-by-side benchmark harness: warm-up, then interleaved rounds (ours, theirs, theirs,
// ours, ...) with a fixed number of operations at a fixed concurrency; reports the median of
// the rounds with their spread, latency percentiles, this process's CPU time per operation (the
// client's cost, median of the rounds), peak RSS and the ratio to the peer.
// `--short` (or DIANA_BENCH_SHORT=1, which `pnpm bench` sets) runs a tenth of the operations
// in three rounds (in `compare`, each round at least half a second); goals are also written to
// DIANA_BENCH_GOALS (one JSON line each) when set.
import { appendFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { ServerCpu } from './server-cpu.js';

// A reader that stops early (`pnpm bench:bot | head`) must not end the run before its cleanup
// (its database, its Redis keys): what it no longer reads is dropped, and the run goes on.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code !== 'EPIPE') throw error;
});

/** True in short mode (`pnpm bench`): fewer operations, same goals. */
export const SHORT = process.argv.includes('--short') || process.env.DIANA_BENCH_SHORT === '1';

/** Short mode's shortest round of `compare`, in seconds (see there). */
const SHORT_ROUND_S = 0.5;

/** `n` in full mode, a tenth of it (at least `min`) in short mode: operations, seconds, events. */
export function scaled(n: number, min = 1): number {
  return SHORT ? Math.max(min, Math.round(n / 10)) : n;
}

/** One contender: `op` performs one operation. */
export interface Variant {
  readonly name: string;
  readonly op: (i: number) => Promise<unknown>;
}

/** The figures of one variant over all rounds. */
export interface VariantResult {
  readonly name: string;
  readonly ops_per_s: number;
  readonly ops_min: number;
  readonly ops_max: number;
  readonly p50_ms: number;
  readonly p99_ms: number;
  /** This process's CPU time per operation, µs (median of the rounds): the client's cost. */
  readonly cpu_us: number;
  /** The servers' CPU time per operation, µs (median of the rounds), when `servers` was given. */
  readonly server_us?: { readonly postgres: number; readonly redis: number };
  /** ops/s of each round, in round order. */
  readonly rounds: readonly number[];
}

/** Options of `compare`. */
export interface CompareOptions {
  readonly title: string;
  readonly variants: readonly Variant[];
  /** Operations in flight at once. */
  readonly concurrency: number;
  /** Operations per round per variant. */
  readonly ops: number;
  /** @default 5 */
  readonly rounds?: number;
  /** Warm-up operations per variant. @default ops / 2 */
  readonly warmup?: number;
  /** The servers' CPU meter (`measureServerCpu`): each variant's rows then give it per operation. */
  readonly servers?: { take(): ServerCpu | undefined };
}

let peakRss = process.memoryUsage.rss();
const sampler = setInterval(() => {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
}, 20);
sampler.unref();

/** Peak resident set size seen so far, in MB. */
export function getPeakRssMb(): number {
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  return peakRss / 1024 / 1024;
}

/** Runs the comparison and prints one table; returns the per-variant figures. */
export async function compare(full: CompareOptions): Promise<VariantResult[]> {
  const options: { -readonly [K in keyof CompareOptions]: CompareOptions[K] } = SHORT
    ? {
        ...full,
        ops: scaled(full.ops, full.concurrency),
        rounds: Math.min(3, full.rounds ?? 5),
        warmup: scaled(full.warmup ?? Math.ceil(full.ops / 2), full.concurrency),
      }
    : full;
  const rounds = options.rounds ?? 5;
  let fastest = 0;
  for (const variant of options.variants) {
    const warm = await run(variant, options.warmup ?? Math.ceil(options.ops / 2), options.concurrency);
    fastest = Math.max(fastest, warm.ops);
  }
  // In short mode a tenth of the operations can be a round of a few milliseconds, where one
  // collection or one slow wake-up is the p99 and the ratio: each round then runs for at least
  // SHORT_ROUND_S at the fastest warm-up's rate, and never more operations than the full run's.
  if (SHORT) options.ops = Math.min(full.ops, Math.max(options.ops, Math.ceil(fastest * SHORT_ROUND_S)));
  const samples = new Map<string, Array<Awaited<ReturnType<typeof run>>>>();
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? options.variants : [...options.variants].reverse();
    for (const variant of order) {
      const sample = await run(variant, options.ops, options.concurrency, options.servers);
      samples.set(variant.name, [...(samples.get(variant.name) ?? []), sample]);
    }
  }
  const results = options.variants.map((variant) => {
    const list = samples.get(variant.name) ?? [];
    const servers = list.flatMap((s) => (s.servers ? [s.servers] : []));
    return {
      name: variant.name,
      ops_per_s: median(list.map((s) => s.ops)),
      ops_min: Math.min(...list.map((s) => s.ops)),
      ops_max: Math.max(...list.map((s) => s.ops)),
      p50_ms: median(list.map((s) => s.p50)),
      p99_ms: median(list.map((s) => s.p99)),
      cpu_us: median(list.map((s) => s.cpu_us)),
      ...(servers.length
        ? {
            server_us: {
              postgres: median(servers.map((s) => s.postgres)),
              redis: median(servers.map((s) => s.redis)),
            },
          }
        : {}),
      rounds: list.map((s) => s.ops),
    };
  });
  printTable(options, results, rounds);
  return results;
}

/**
 * Throughput ratio of two variants: the median of the per-round ratios (each round runs both
 * back to back, so slow drifts of the machine cancel out).
 */
export function ratio(results: readonly VariantResult[], ours: string, theirs: string): number {
  const a = results.find((r) => r.name === ours);
  const b = results.find((r) => r.name === theirs);
  if (!a || !b) return Number.NaN;
  return median(a.rounds.map((ops, i) => ops / (b.rounds[i] ?? Number.NaN)));
}

/** Prints a goal line: `goal … : met` or `: MISSED` (and records it for `pnpm bench`). */
export function printGoal(text: string, met: boolean): void {
  process.stdout.write(`  goal ${text}: ${met ? 'met' : 'MISSED'}\n`);
  const file = process.env.DIANA_BENCH_GOALS;
  if (file)
    appendFileSync(file, `${JSON.stringify({ bench: basename(process.argv[1] ?? '?', '.ts'), goal: text, met })}\n`);
}

async function run(variant: Variant, ops: number, concurrency: number, servers?: CompareOptions['servers']) {
  const latencies = new Float64Array(ops);
  let next = 0;
  servers?.take(); // (its /proc scan outside the timed window)
  const started = performance.now();
  const cpu = process.cpuUsage();
  const worker = async () => {
    while (next < ops) {
      const i = next++;
      const t0 = performance.now();
      await variant.op(i);
      latencies[i] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, ops) }, worker));
  const elapsed = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  const spent = servers?.take();
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    ops: ops / elapsed,
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    cpu_us: (used.user + used.system) / ops,
    servers: spent && { postgres: (spent.postgres_ms * 1000) / ops, redis: (spent.redis_ms * 1000) / ops },
  };
}

/** The q-quantile of sorted values. */
export function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
}

/** The median of `values`. */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

function printTable(options: CompareOptions, results: readonly VariantResult[], rounds: number): void {
  const out = process.stdout;
  out.write(`\n${options.title}\n`);
  out.write(
    `  ${options.ops} ops × ${rounds} interleaved rounds, concurrency ${options.concurrency}; median (min–max)\n`,
  );
  const base = results[results.length - 1];
  for (const r of results) {
    const spread = `${fmt(r.ops_min)}–${fmt(r.ops_max)}`;
    const rel = base && r !== base ? `  ×${ratio(results, r.name, base.name).toFixed(2)} vs ${base.name} (paired)` : '';
    const servers = r.server_us
      ? `  servers' CPU µs/op: PostgreSQL ${r.server_us.postgres.toFixed(1)}, Redis ${r.server_us.redis.toFixed(1)}`
      : '';
    out.write(
      `  ${r.name.padEnd(28)} ${fmt(r.ops_per_s).padStart(9)} ops/s (${spread})  p50 ${r.p50_ms.toFixed(2)} ms  p99 ${r.p99_ms.toFixed(2)} ms  CPU ${r.cpu_us.toFixed(1)} µs/op${servers}${rel}\n`,
    );
  }
  out.write(`  peak RSS ${getPeakRssMb().toFixed(0)} MB\n`);
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/**
 * `total` calls of `op`, `concurrency` at a time (each caller starts its next call when the last
 * one returned); pushes each call's latency to `latencies` when given. Resolves to calls per second.
 */
export async function closedLoop(
  total: number,
  concurrency: number,
  op: (n: number) => Promise<unknown>,
  latencies?: number[],
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        const t = performance.now();
        await op(next++);
        latencies?.push(performance.now() - t);
      }
    }),
  );
  return total / ((performance.now() - started) / 1000);
}

/**
 * Open loop: `total` calls of `start`, `rate` per second, each started on schedule whatever the
 * earlier ones do (a timer when it is more than 1 ms early). Resolves once every call has
 * settled; rejects with the first call's rejection.
 */
export async function openLoop(rate: number, total: number, start: (n: number) => Promise<unknown>): Promise<void> {
  const begin = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let n = 0; n < total; n++) {
    const wait = begin + (n * 1000) / rate - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(start(n));
  }
  await Promise.all(pending);
}
