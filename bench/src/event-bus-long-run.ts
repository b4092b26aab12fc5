// The long run of pnpm bench:event-bus, started by it in a process of its own with
// `<events> <redis url> <key prefix>`: that many events through one group at full speed, the
// producer at most 5 000 events ahead of the consumer. Prints one JSON line (LongRunResult);
// the parent deletes the prefix. Nothing but the event bus is loaded (not the test helpers,
// which bring vitest), so the memory figures are the bus's. The baseline is taken after a warm-up and a full GC; the
// retained heap after a full GC at the end tells growth with the number of events apart from
// V8's old-generation sawtooth between collections (which the peak includes). Where the peak's
// growth sits is sampled with it: V8's heap (resident pages, and of them the young generation) and
// the rest of the process. V8 lets the young generation grow under a high allocation rate, to
// 16 MB a semi-space on Node 20 and 64 MB on Node 24.

import { getHeapSpaceStatistics, getHeapStatistics } from 'node:v8';
import { createEventBus, defineEvents } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector } from '@diana/redis';
import * as v from 'valibot';

export interface LongRunResult {
  readonly warm_up: number;
  readonly startRss: number;
  readonly peak: number;
  /** V8's heap, resident (MB), at the start and at the RSS peak; of it, the young generation. */
  readonly heapResident: { readonly start: number; readonly atPeak: number };
  readonly youngResident: { readonly start: number; readonly atPeak: number };
  readonly startHeap: number;
  readonly endHeap: number;
  readonly maxLength: number;
  readonly rate: number;
}

const WARM_UP = 20_000;
const CONCURRENCY = 64;
const mb = (bytes: number) => bytes / 1024 / 1024;
const resident = () => ({
  heap: mb(getHeapStatistics().total_physical_size),
  young: mb(getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.physical_space_size ?? 0),
});
const collect = () => {
  if (!global.gc) throw new Error('run with --expose-gc');
  global.gc();
};

async function longRun(total: number, url: URL, prefix: string): Promise<LongRunResult> {
  const transport = createRedisStreamsTransport(
    { prefix },
    { connector: createRedisConnector({ options: { host: url.hostname, port: Number(url.port) } }) },
  );
  const events = defineEvents({ 'bench.happened': v.object({ n: v.number(), text: v.string() }) });
  const bus = createEventBus({ trim_interval_ms: 1_000, batch_size: 200 }, { transport, events });
  try {
    let done = 0;
    bus.subscribe(
      'long',
      'bench.happened',
      () => {
        done++;
      },
      { concurrency: 256 },
    );
    let next = 0;
    const pump = async (until: number) => {
      await Promise.all(
        Array.from({ length: CONCURRENCY }, async () => {
          while (next < until) {
            const n = next++;
            while (n - done > 5_000) await new Promise((resolve) => setTimeout(resolve, 5));
            await bus.publish('bench.happened', { n, text: 'x'.repeat(100) });
          }
        }),
      );
      while (done < until) await new Promise((resolve) => setTimeout(resolve, 20));
    };
    await pump(WARM_UP);
    // settle: two full collections with a quiet moment between, so the baseline does not
    // depend on where the warm-up's last collection cycle happened to stop
    collect();
    await new Promise((resolve) => setTimeout(resolve, 300));
    collect();
    const startRss = mb(process.memoryUsage.rss());
    const startHeap = mb(process.memoryUsage().heapUsed);
    const start = resident();
    let peak = startRss;
    let atPeak = start;
    let maxLength = 0;
    const sampler = setInterval(() => {
      const rss = mb(process.memoryUsage.rss());
      if (rss > peak) {
        peak = rss;
        atPeak = resident();
      }
      transport.streamLength('bench.happened').then(
        (length) => {
          maxLength = Math.max(maxLength, length);
        },
        () => {},
      );
    }, 100);
    const started = performance.now();
    await pump(WARM_UP + total);
    const rate = total / ((performance.now() - started) / 1000);
    clearInterval(sampler);
    collect();
    const endHeap = mb(process.memoryUsage().heapUsed);
    return {
      warm_up: WARM_UP,
      startRss,
      peak,
      heapResident: { start: start.heap, atPeak: atPeak.heap },
      youngResident: { start: start.young, atPeak: atPeak.young },
      startHeap,
      endHeap,
      maxLength,
      rate,
    };
  } finally {
    await bus.close();
    await transport.close();
  }
}

const [total, url, prefix] = process.argv.slice(2);
if (!total || !url || !prefix) throw new Error('usage: event-bus-long-run.ts <events> <redis url> <key prefix>');
process.stdout.write(`${JSON.stringify(await longRun(Number(total), new URL(url), prefix))}\n`);
