import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { startWorker } from '../src/worker.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('startWorker', () => {
  it('a worker ends when the process that started it dies without stopping it', async () => {
    const parent = startWorker(fileURLToPath(new URL('./fixtures/parent-worker.ts', import.meta.url)));
    const pid = Number((await parent.waitFor('child', 20_000)).pid);
    expect(alive(pid)).toBe(true);
    await parent.kill('SIGKILL');
    expect(alive(parent.pid)).toBe(false); // the fault: the parent is gone, no stop was sent
    const deadline = Date.now() + 10_000;
    while (alive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const left = alive(pid);
    if (left) process.kill(pid, 'SIGKILL');
    expect(left).toBe(false);
  }, 40_000);

  it('a worker that closes its own channel is left to end by itself', async () => {
    const worker = startWorker(fileURLToPath(new URL('./fixtures/self-disconnect.ts', import.meta.url)));
    await worker.waitFor('disconnecting', 20_000);
    expect(await worker.exited()).toEqual({ code: 0, signal: null });
  }, 40_000);
});
