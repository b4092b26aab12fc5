import type { Context } from 'grammy';
import { expect, it } from 'vitest';
import { trackUpdates } from '../src/in-flight.js';

const ctx = {} as Context;
/** An update whose handler runs until `finish` is called. */
const start = (tracker: ReturnType<typeof trackUpdates>) => {
  let finish: () => void = () => {};
  const handler = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const done = tracker.middleware(ctx, () => handler);
  return { finish, done };
};

it('drain resolves true once the updates that run have finished, and at once when none runs', async () => {
  const tracker = trackUpdates();
  expect(await tracker.drain(10)).toBe(true);
  const [a, b] = [start(tracker), start(tracker)];
  expect(tracker.running()).toBe(2);
  let drained: boolean | undefined;
  const draining = tracker.drain(60_000).then((idle) => {
    drained = idle;
  });
  a.finish();
  await a.done;
  expect(drained).toBeUndefined(); // one still runs
  b.finish();
  await b.done;
  await draining;
  expect(drained).toBe(true);
  expect(tracker.running()).toBe(0);
});

it('drain resolves false after its timeout while an update still runs; a failed update counts as finished', async () => {
  const tracker = trackUpdates();
  const stuck = start(tracker);
  expect(await tracker.drain(20)).toBe(false);
  expect(tracker.running()).toBe(1);
  const failing = tracker.middleware(ctx, () => Promise.reject(new Error('boom')));
  await expect(failing).rejects.toThrow('boom');
  expect(tracker.running()).toBe(1);
  stuck.finish();
  await stuck.done;
  expect(await tracker.drain(20)).toBe(true);
});
