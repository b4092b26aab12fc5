import { captureLogLines } from '@diana/test-services';
import { describe, expect, it } from 'vitest';
import { createFailureStreak } from '../src/failure-streak.js';
import { createLogger } from '../src/logger.js';
import { runPeriodically } from '../src/periodic.js';

const setup = () => {
  const out = captureLogLines();
  const logger = createLogger({ level: 'debug', destination: out.destination });
  const failures = createFailureStreak({ logger, message: 'chore failed', recovered: 'chore works again' });
  return { failures, stop: new AbortController(), lines: () => out.lines };
};

/** A promise and its resolve. */
const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
};

describe('runPeriodically', () => {
  it('runs one at a time, logs a failing streak once and its end, and stops after the run under way', async () => {
    const { failures, stop, lines } = setup();
    const started: number[] = [];
    let active = 0;
    let overlapped = false;
    const release = deferred();
    const fourth = deferred();
    const done = runPeriodically({ interval_ms: 1, signal: stop.signal, failures }, async (signal) => {
      started.push(started.length + 1);
      active++;
      if (active > 1) overlapped = true;
      try {
        const n = started.length;
        if (n <= 2) throw new Error(`down ${n}`); // runs 1 and 2 fail, 3 works
        if (n === 4) {
          fourth.resolve();
          // the run under way when stopped: the signal it was given aborts
          await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
          await release.promise;
        }
      } finally {
        active--;
      }
    });
    await fourth.promise;
    expect(failures.failures).toBe(0);
    stop.abort();
    let stopped = false;
    void done.then(() => {
      stopped = true;
    });
    await new Promise((resolve) => setImmediate(resolve));
    expect(stopped).toBe(false); // it waits for the run under way
    release.resolve();
    await done;
    expect(started).toEqual([1, 2, 3, 4]);
    expect(overlapped).toBe(false);
    expect(lines().map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'chore failed'],
      ['debug', 'chore failed'],
      ['info', 'chore works again'],
    ]);
  });

  it('waits an interval before the first run, and a stop during the pause ends it at once', async () => {
    const { failures, stop } = setup();
    let runs = 0;
    const done = runPeriodically({ interval_ms: 3_600_000, signal: stop.signal, failures }, async () => {
      runs++;
    });
    stop.abort();
    await done;
    expect(runs).toBe(0);
  });

  it('does not report a run that failed because it was stopped', async () => {
    const { failures, stop, lines } = setup();
    const done = runPeriodically({ interval_ms: 1, signal: stop.signal, failures }, async () => {
      stop.abort();
      throw new Error('pool closed');
    });
    await done;
    expect(failures.failures).toBe(0);
    expect(lines()).toEqual([]);
  });
});
