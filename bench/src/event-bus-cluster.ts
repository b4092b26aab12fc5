// pnpm bench:event-bus -- --partitions N: the event bus on a Redis Cluster (the one
// DIANA_TEST_REDIS_CLUSTER_NODES names, else a private 3 masters + 3 replicas started here).
// Publish and consume throughput of one type in N partitions beside the same type in one stream,
// where the partitions' entries landed (per master), and the cost of wait_replicas 1 (WAIT) on
// publish: events/s and per-call p99, with and without.
import { randomBytes } from 'node:crypto';
import { createEventBus, defineEvents } from '@diana/event-bus';
import { createRedisStreamsTransport } from '@diana/event-bus/adapters/redis-streams';
import { createRedisConnector } from '@diana/redis';
import { deleteByPrefixOnCluster, getRedisCluster } from '@diana/test-services';
import { Cluster } from 'ioredis';
import * as v from 'valibot';
import { median, percentile, closedLoop as runClosedLoop, scaled } from './harness.js';

const events = defineEvents({ 'bench.happened': v.object({ n: v.number(), text: v.string() }) });
const TYPE = 'bench.happened';
const payload = (n: number) => ({ n, text: 'x'.repeat(100) });
const out = (line: string) => process.stdout.write(`${line}\n`);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** Runs the cluster benchmark with `partitions` partitions. */
export async function benchCluster(partitions: number): Promise<void> {
  const N = scaled(20_000);
  const ROUNDS = scaled(5, 3);
  const CONCURRENCY = 64;
  const cluster = await getRedisCluster();
  const connector = createRedisConnector({ cluster: { nodes: cluster.nodes } });
  const raw = new Cluster(cluster.nodes.map((n) => ({ host: n.host, port: n.port })));
  const prefixes: string[] = [];
  const fresh = () => {
    const prefix = `bench:${randomBytes(4).toString('hex')}:`;
    prefixes.push(prefix);
    return prefix;
  };
  const closedLoop = (op: (n: number) => Promise<unknown>, latencies?: number[]) =>
    runClosedLoop(N, CONCURRENCY, op, latencies);

  interface Variant {
    readonly name: string;
    readonly partitions: number;
    readonly wait: boolean;
  }
  const latencies = new Map<string, number[]>();
  const lastPrefix = new Map<string, string>();
  const publish = (variant: Variant) => async () => {
    const prefix = fresh();
    lastPrefix.set(variant.name, prefix);
    const transport = createRedisStreamsTransport(
      {
        prefix,
        partitions: { [TYPE]: variant.partitions },
        ...(variant.wait ? { wait_replicas: 1, wait_timeout_ms: 1_000 } : {}),
      },
      { connector },
    );
    const bus = createEventBus({}, { transport, events });
    const list = latencies.get(variant.name) ?? [];
    latencies.set(variant.name, list);
    // a key per event: spread over the partitions as a user id would
    const rate = await closedLoop((n) => bus.publish(TYPE, payload(n), { key: `user:${n}` }), list);
    await bus.close();
    await transport.close();
    return { rate, prefix };
  };
  const consume = (variant: Variant) => async () => {
    const prefix = fresh();
    const transport = createRedisStreamsTransport(
      { prefix, partitions: { [TYPE]: variant.partitions } },
      { connector },
    );
    const bus = createEventBus({ batch_size: 100 }, { transport, events });
    await closedLoop((n) => bus.publish(TYPE, payload(n), { key: `user:${n}` }));
    let done = 0;
    const started = performance.now();
    await new Promise<void>((resolve) => {
      bus.subscribe(
        'bench',
        TYPE,
        () => {
          if (++done === N) resolve();
        },
        { concurrency: CONCURRENCY },
      );
    });
    const rate = N / ((performance.now() - started) / 1000);
    await bus.close({ timeout_ms: 1_000 });
    await transport.close();
    return rate;
  };

  const rounds = async (label: string, runs: Array<[string, () => Promise<number>]>) => {
    for (const [, run] of runs) await run(); // warm-up
    latencies.clear();
    const samples = new Map<string, number[]>(runs.map(([name]) => [name, []]));
    for (let round = 0; round < ROUNDS; round++) {
      for (const [name, run] of round % 2 === 0 ? runs : [...runs].reverse()) samples.get(name)?.push(await run());
    }
    out(`\n${label} — ${fmt(N)} events × ${ROUNDS} interleaved rounds, concurrency ${CONCURRENCY}; median (min–max)`);
    for (const [name, list] of samples) {
      const lat = (latencies.get(name) ?? []).sort((a, b) => a - b);
      const perCall =
        lat.length > 0
          ? `, per call p50 ${percentile(lat, 0.5).toFixed(2)} ms p99 ${percentile(lat, 0.99).toFixed(2)} ms`
          : '';
      out(
        `  ${name.padEnd(30)} ${fmt(median(list)).padStart(9)} events/s (${fmt(Math.min(...list))}–${fmt(Math.max(...list))})${perCall}`,
      );
    }
    return samples;
  };
  const paired = (a: number[] = [], b: number[] = []) => median(a.map((x, i) => x / (b[i] ?? Number.NaN)));

  try {
    const masters = await cluster.masters();
    out(
      `Redis Cluster: ${masters.length} masters (${cluster.private ? 'started here' : 'DIANA_TEST_REDIS_CLUSTER_NODES'})`,
    );
    const ONE: Variant = { name: '1 stream', partitions: 1, wait: false };
    const MANY: Variant = { name: `${partitions} partitions`, partitions, wait: false };
    const pub = await rounds('Publish throughput, one type', [
      [ONE.name, async () => (await publish(ONE)()).rate],
      [MANY.name, async () => (await publish(MANY)()).rate],
    ]);
    out(`  ${MANY.name} / 1 stream ×${paired(pub.get(MANY.name), pub.get(ONE.name)).toFixed(2)} (paired)`);

    // where the last round's entries landed
    const prefix = lastPrefix.get(MANY.name) as string;
    const perMaster = new Map<number, number>();
    for (let p = 0; p < partitions; p++) {
      const key = `${prefix}{${p === 0 ? TYPE : `${TYPE}#${p}`}}`;
      const master = (await cluster.masterOf(Number(await raw.call('CLUSTER', 'KEYSLOT', key)))).port;
      perMaster.set(master, (perMaster.get(master) ?? 0) + (await raw.xlen(key)));
    }
    out(
      `  entries of the last ${MANY.name} round by master: ${[...perMaster].map(([port, n]) => `:${port} ${fmt(n)}`).join(', ')} (${perMaster.size} of ${masters.length} masters)`,
    );

    const con = await rounds('Consume throughput, one type (prefilled, one group, no-op handler)', [
      [ONE.name, consume(ONE)],
      [MANY.name, consume(MANY)],
    ]);
    out(`  ${MANY.name} / 1 stream ×${paired(con.get(MANY.name), con.get(ONE.name)).toFixed(2)} (paired)`);

    const WAIT_ONE: Variant = { name: '1 stream, wait_replicas 1', partitions: 1, wait: true };
    const waitRounds = await rounds('Publish with and without WAIT (wait_replicas 1), one stream', [
      [ONE.name, async () => (await publish(ONE)()).rate],
      [WAIT_ONE.name, async () => (await publish(WAIT_ONE)()).rate],
    ]);
    out(
      `  with WAIT / without ×${paired(waitRounds.get(WAIT_ONE.name), waitRounds.get(ONE.name)).toFixed(2)} (paired)`,
    );
  } finally {
    for (const prefix of prefixes) await deleteByPrefixOnCluster(cluster.nodes, prefix);
    raw.disconnect();
    await connector.close({ timeout_ms: 500 });
    if (cluster.private) await cluster.stop();
  }
}
