import { fileURLToPath } from 'node:url';
import { createRedisConnector } from '@diana/redis';
import { startWorker, useTestRedis } from '@diana/test-services';
import { expect, it } from 'vitest';
import { createRedisStreamsTransport } from '../src/adapters/redis-streams.js';
import { createEventBus } from '../src/bus.js';
import { CONFORMANCE_CONFIG, CONFORMANCE_EVENTS } from '../src/conformance-events.js';

const redis = await useTestRedis('broadcast');
const port = Number(new URL(redis.url).port);

it('a broadcast subscriber in each of two processes receives every event', async () => {
  const prefix = `${redis.prefix}b:`;
  const total = 200;
  const script = fileURLToPath(new URL('./fixtures/broadcast-listener.ts', import.meta.url));
  const workers = [startWorker(script), startWorker(script)];
  for (const worker of workers) worker.send({ type: 'config', redis_port: port, prefix, expect: total });
  await Promise.all(workers.map((worker) => worker.waitFor('ready')));

  const transport = createRedisStreamsTransport({ prefix }, { connector: createRedisConnector({ options: { port } }) });
  const bus = createEventBus(CONFORMANCE_CONFIG, { transport, events: CONFORMANCE_EVENTS });
  for (let n = 0; n < total; n++) await bus.publish('test.happened', { n });
  const reports = await Promise.all(workers.map((worker) => worker.waitFor('done', 20_000)));
  for (const r of reports) expect(r.seen).toEqual([...Array(total).keys()]);
  expect(new Set(workers.map((w) => w.pid)).size).toBe(2);
  await Promise.all(workers.map((worker) => worker.kill('SIGTERM')));
  await bus.close();
  await transport.close();
}, 60_000);
