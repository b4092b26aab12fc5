// Issue #18.4: the process used to outlive bus.close() + transport.close() by about block_ms
// (a blocked XREADGROUP was waited out, and ioredis kept the socket up to 2 s more).
import { fileURLToPath } from 'node:url';
import { startWorker, useTestRedis } from '@diana/test-services';
import { expect, it } from 'vitest';

const redis = await useTestRedis('close-exit');

it('after close resolves nothing of the bus keeps the process alive: it exits at once, not after block_ms', async () => {
  const block_ms = 10_000;
  const worker = startWorker(fileURLToPath(new URL('./fixtures/close-exit.ts', import.meta.url)));
  worker.send({ type: 'config', redis_port: Number(new URL(redis.url).port), prefix: `${redis.prefix}ce:`, block_ms });
  const closed = await worker.waitFor('closed', 60_000);
  const t = performance.now();
  const exit = await worker.exited();
  const exit_ms = performance.now() - t;
  // deterministic: no socket or timer of ours is left once close resolved
  expect(closed.resources).toEqual([]);
  expect(exit.code).toBe(0);
  // and the times are far below the block (generous bounds: a busy machine is slow, not 10 s slow)
  expect(closed.close_ms).toBeLessThan(block_ms / 2);
  expect(exit_ms).toBeLessThan(block_ms / 2);
}, 90_000);
