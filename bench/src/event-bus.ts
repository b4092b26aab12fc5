// pnpm bench:event-bus — our event bus on Redis Streams against BullMQ on the same Redis, in
// one process: consume and publish throughput, our share of a bare ioredis stream loop,
// end-to-end latency at a steady rate, and memory through a long run.
//   --events N   events of the long run (default 200 000; the figure is 1 000 000)
//   --partitions N   instead: the bus on a Redis Cluster, one type in N partitions beside one
//                    stream, and the cost of wait_replicas (event-bus-cluster.ts)
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createEventBus, defineEvents } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector } from '@diana/redis';
import { deleteByPrefix, getRedisUrl } from '@diana/test-services';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import * as v from 'valibot';
import { benchCluster } from './event-bus-cluster.js';
import type { LongRunResult } from './event-bus-long-run.js';
import { getPeakRssMb, median, percentile, printGoal, closedLoop as runClosedLoop, scaled } from './harness.js';

const partitionsAt = process.argv.indexOf('--partitions');
if (partitionsAt >= 0) {
  await benchCluster(Number(process.argv[partitionsAt + 1]) || 4);
  process.exit(0);
}

// Short mode keeps the rounds' size and runs fewer of them: rounds of a tenth (20–60 ms) gave a
// share of the bare loop far from the full runs' (29–40% against 52–59%)
const N = 20_000;
const ROUNDS = scaled(5, 3);
const CONCURRENCY = 64;
const LONG_RUN = Number(process.argv[process.argv.indexOf('--events') + 1]) || scaled(200_000);
const url = new URL(await getRedisUrl());
const connection = { host: url.hostname, port: Number(url.port) };
const connector = createRedisConnector({ options: connection });
const events = defineEvents({ 'bench.happened': v.object({ n: v.number(), text: v.string() }) });
const payload = (n: number) => ({ n, text: 'x'.repeat(100) });
const out = (line: string) => process.stdout.write(`${line}\n`);
const prefixes: string[] = [];
const fresh = () => {
  const prefix = `bench:${randomBytes(4).toString('hex')}:`;
  prefixes.push(prefix);
  return prefix;
};

async function oursConsume(): Promise<number> {
  const transport = createRedisStreamsTransport({ prefix: fresh() }, { connector });
  const bus = createEventBus({ batch_size: 100 }, { transport, events });
  await closedLoop((n) => bus.publish('bench.happened', payload(n)));
  let done = 0;
  const started = performance.now();
  const finished = new Promise<void>((resolve) => {
    bus.subscribe(
      'bench',
      'bench.happened',
      () => {
        if (++done === N) resolve();
      },
      { concurrency: CONCURRENCY },
    );
  });
  await finished;
  const rate = N / ((performance.now() - started) / 1000);
  await bus.close({ timeout_ms: 1_000 });
  await transport.close();
  return rate;
}

async function bullConsume(): Promise<number> {
  const prefix = fresh();
  const queue = new Queue('bench', { connection, prefix });
  for (let i = 0; i < N; i += 1_000) {
    await queue.addBulk(
      Array.from({ length: Math.min(1_000, N - i) }, (_, k) => ({
        name: 'bench.happened',
        data: payload(i + k),
        opts: { removeOnComplete: true },
      })),
    );
  }
  let done = 0;
  const started = performance.now();
  let worker: Worker | undefined;
  await new Promise<void>((resolve) => {
    worker = new Worker(
      'bench',
      async () => {
        if (++done === N) resolve();
      },
      { connection, prefix, concurrency: CONCURRENCY },
    );
  });
  const rate = N / ((performance.now() - started) / 1000);
  await worker?.close();
  await queue.close();
  return rate;
}

async function rawConsume(): Promise<number> {
  const prefix = fresh();
  const client = new Redis(connection);
  const stream = `${prefix}{raw}`;
  await client.xgroup('CREATE', stream, 'g', '0', 'MKSTREAM');
  for (let i = 0; i < N; i += 100) {
    const pipeline = client.pipeline();
    for (let k = i; k < Math.min(N, i + 100); k++) pipeline.xadd(stream, '*', 'e', JSON.stringify(payload(k)));
    await pipeline.exec();
  }
  let done = 0;
  const started = performance.now();
  while (done < N) {
    const reply = (await client.xreadgroup('GROUP', 'g', 'c', 'COUNT', 100, 'STREAMS', stream, '>')) as Array<
      [string, Array<[string, string[]]>]
    > | null;
    const entries = reply?.[0]?.[1] ?? [];
    const pipeline = client.pipeline();
    for (const [id] of entries) pipeline.xack(stream, 'g', id);
    await pipeline.exec();
    done += entries.length;
  }
  const rate = N / ((performance.now() - started) / 1000);
  client.disconnect();
  return rate;
}

// Per-call publish latencies of every measured round, by variant.
const publishLatency = new Map<string, number[]>();
const latencyOf = (name: string) => {
  const list = publishLatency.get(name) ?? [];
  publishLatency.set(name, list);
  return list;
};

const oursPublish = (append_batch_max: number | undefined, name: string) => async (): Promise<number> => {
  const transport = createRedisStreamsTransport(
    { prefix: fresh(), ...(append_batch_max ? { append_batch_max } : {}) },
    { connector },
  );
  const bus = createEventBus({}, { transport, events });
  const rate = await closedLoop((n) => bus.publish('bench.happened', payload(n)), latencyOf(name));
  await bus.close();
  await transport.close();
  return rate;
};

async function bullPublish(): Promise<number> {
  const queue = new Queue('bench', { connection, prefix: fresh() });
  const rate = await closedLoop(
    (n) => queue.add('bench.happened', payload(n), { removeOnComplete: true }),
    latencyOf('BullMQ Queue.add'),
  );
  await queue.close();
  return rate;
}

function closedLoop(op: (n: number) => Promise<unknown>, latencies?: number[]): Promise<number> {
  return runClosedLoop(N, CONCURRENCY, op, latencies);
}

async function rounds(label: string, variants: Array<[string, () => Promise<number>]>, afterWarmUp?: () => void) {
  for (const [, run] of variants) await run(); // warm-up
  afterWarmUp?.();
  const samples = new Map<string, number[]>(variants.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    const order = round % 2 === 0 ? variants : [...variants].reverse();
    for (const [name, run] of order) samples.get(name)?.push(await run());
  }
  out(`\n${label} — ${N} events × ${ROUNDS} interleaved rounds, concurrency ${CONCURRENCY}; median (min–max)`);
  for (const [name, list] of samples) {
    out(
      `  ${name.padEnd(34)} ${Math.round(median(list)).toLocaleString('en-US').padStart(9)} events/s (${Math.round(Math.min(...list)).toLocaleString('en-US')}–${Math.round(Math.max(...list)).toLocaleString('en-US')})`,
    );
  }
  return new Map([...samples].map(([name, list]) => [name, list]));
}

const pairedRatio = (a: number[], b: number[]) => median(a.map((x, i) => x / (b[i] ?? Number.NaN)));

async function steadyLatency(ratePerSecond: number, seconds: number) {
  const transport = createRedisStreamsTransport({ prefix: fresh() }, { connector });
  const bus = createEventBus({ block_ms: 1_000 }, { transport, events });
  const sentAt = new Map<number, number>();
  const latencies: number[] = [];
  bus.subscribe('latency', 'bench.happened', (event) => {
    const t = sentAt.get(event.payload.n);
    if (t !== undefined) latencies.push(performance.now() - t);
  });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const total = ratePerSecond * seconds;
  const started = performance.now();
  for (let n = 0; n < total; n++) {
    const due = started + (n * 1000) / ratePerSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    sentAt.set(n, performance.now());
    void bus.publish('bench.happened', payload(n));
  }
  const deadline = Date.now() + 10_000;
  while (latencies.length < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  await bus.close();
  await transport.close();
  const sorted = latencies.sort((a, b) => a - b);
  return { count: sorted.length, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99) };
}

// The long run has a process of its own (event-bus-long-run.ts) that loads nothing but the
// event bus, so its memory figures are neither those of the rounds before it nor BullMQ's
// nor the test helpers'. Its key prefix is one of ours, deleted at the end with the others.
async function longRun(total: number): Promise<LongRunResult> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      '--expose-gc',
      '--import',
      'tsx',
      fileURLToPath(new URL('./event-bus-long-run.ts', import.meta.url)),
      String(total),
      await getRedisUrl(),
      fresh(),
    ],
    { maxBuffer: 1 << 20 },
  );
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}');
}

try {
  const consume = await rounds('Consume throughput (prefilled stream, one group, no-op handler, validation + acks)', [
    ['ours: event bus', oursConsume],
    ['BullMQ Worker (removeOnComplete)', bullConsume],
    ['bare ioredis XREADGROUP + XACK loop', rawConsume],
  ]);
  const ours = consume.get('ours: event bus') ?? [];
  const consumeRatio = pairedRatio(ours, consume.get('BullMQ Worker (removeOnComplete)') ?? []);
  const share = pairedRatio(ours, consume.get('bare ioredis XREADGROUP + XACK loop') ?? []);
  out(`  ours / BullMQ ×${consumeRatio.toFixed(2)} (paired); ours / bare loop ${(share * 100).toFixed(0)}%`);
  printGoal('consume ≥ 2× BullMQ', consumeRatio >= 2);
  printGoal(`consume ≥ 50% of the bare loop (#21; measured ${(share * 100).toFixed(0)}%)`, share >= 0.5);

  const OURS = 'ours: bus.publish';
  const SINGLE = 'ours, append_batch_max: 1';
  const BULL = 'BullMQ Queue.add';
  const publish = await rounds(
    'Publish throughput (concurrent single publishes)',
    [
      [OURS, oursPublish(undefined, OURS)],
      [SINGLE, oursPublish(1, SINGLE)],
      [BULL, bullPublish],
    ],
    () => publishLatency.clear(),
  );
  for (const [name, list] of publishLatency) {
    const sorted = list.sort((a, b) => a - b);
    out(
      `  ${name.padEnd(34)} per call p50 ${percentile(sorted, 0.5).toFixed(2)} ms, p99 ${percentile(sorted, 0.99).toFixed(2)} ms`,
    );
  }
  const publishRatio = pairedRatio(publish.get(OURS) ?? [], publish.get(BULL) ?? []);
  const singleRatio = pairedRatio(publish.get(SINGLE) ?? [], publish.get(BULL) ?? []);
  out(`  ours / BullMQ ×${publishRatio.toFixed(2)} (paired); each append on its own ×${singleRatio.toFixed(2)}`);
  printGoal('publish ≥ 2× BullMQ', publishRatio >= 2);

  const latency = await steadyLatency(1_000, scaled(5, 2));
  out(
    `\nEnd-to-end latency at a steady 1 000 events/s for 5 s: ${latency.count} events, p50 ${latency.p50.toFixed(2)} ms, p99 ${latency.p99.toFixed(2)} ms`,
  );
  printGoal('p99 ≤ 5 ms', latency.p99 <= 5);

  const long = await longRun(LONG_RUN);
  out(
    `\nLong run (own process, after a ${long.warm_up.toLocaleString('en-US')}-event warm-up): ${LONG_RUN.toLocaleString('en-US')} events through one group at ${Math.round(long.rate).toLocaleString('en-US')} events/s`,
  );
  out(
    `  RSS at start ${long.startRss.toFixed(0)} MB, peak ${long.peak.toFixed(0)} MB (+${(long.peak - long.startRss).toFixed(0)} MB); longest stream ${long.maxLength.toLocaleString('en-US')} entries`,
  );
  const grew = (from: number, to: number) => `${to >= from ? '+' : ''}${(to - from).toFixed(0)} MB`;
  out(
    `  of the growth: V8's heap ${grew(long.heapResident.start, long.heapResident.atPeak)} (its young generation ${long.youngResident.start.toFixed(0)} → ${long.youngResident.atPeak.toFixed(0)} MB), outside it ${grew(long.startRss - long.heapResident.start, long.peak - long.heapResident.atPeak)} (Node ${process.versions.node})`,
  );
  out(
    `  heap after a full GC: ${long.startHeap.toFixed(1)} MB at start, ${long.endHeap.toFixed(1)} MB at the end (${long.endHeap >= long.startHeap ? '+' : ''}${(long.endHeap - long.startHeap).toFixed(1)} MB)`,
  );
  printGoal('peak RSS ≤ start + 50 MB', long.peak - long.startRss <= 50);
  out(`\npeak RSS of the benchmark process ${getPeakRssMb().toFixed(0)} MB`);
} finally {
  const redisUrl = await getRedisUrl();
  for (const prefix of prefixes) await deleteByPrefix(redisUrl, prefix);
}
