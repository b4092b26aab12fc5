import { isDianaError } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { createPublishDeadlines } from '../src/publish-deadline.js';

/** An append that settles only when told to, and records the signal it was given. */
const pending = () => {
  const signals: AbortSignal[] = [];
  const settlers: Array<{ resolve: (id: string) => void; reject: (error: unknown) => void }> = [];
  const append = (signal: AbortSignal) => {
    signals.push(signal);
    return new Promise<string>((resolve, reject) => {
      settlers.push({ resolve, reject });
      // what an unsent append does: it gives up when its signal aborts
      signal.addEventListener('abort', () => reject(new Error('not sent (aborted)')), { once: true });
    });
  };
  return { append, signals, settlers };
};

describe('publish deadlines', () => {
  it('publishes begun in one millisecond share one signal; each settles with its own outcome', async () => {
    const within = createPublishDeadlines(5_000, () => 1_000); // a clock that stands still
    const { append, signals, settlers } = pending();
    const calls = Array.from({ length: 50 }, () => within(append, 'test.happened'));
    expect(new Set(signals).size).toBe(1);
    for (const [i, s] of settlers.entries()) {
      if (i % 2 === 0) s.resolve(`1-${i}`);
      else s.reject(new Error(`refused ${i}`));
    }
    const outcomes = await Promise.allSettled(calls);
    expect(outcomes.filter((o) => o.status === 'fulfilled').map((o) => o.value)).toEqual(
      Array.from({ length: 25 }, (_, k) => `1-${2 * k}`),
    );
    const errors = outcomes.filter((o) => o.status === 'rejected').map((o) => o.reason as Error);
    expect(errors.every((e) => isDianaError(e, 'E_BUS_PUBLISH_FAILED'))).toBe(true);
    expect(errors[0]?.message).toBe('test.happened: refused 1');
    // settled before the deadline: the shared signal was never aborted
    expect(signals[0]?.aborted).toBe(false);
  });

  it('a publish begun later gets a deadline of its own, its full length from its own start', async () => {
    const within = createPublishDeadlines(120);
    const { append, signals } = pending();
    const first = within(append, 'test.happened').catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 40)); // the case: a publish begun 40 ms after
    const laterStart = performance.now();
    const later = within(append, 'test.happened').catch((e: unknown) => e);
    expect(signals[1]).not.toBe(signals[0]);
    const firstError = await first;
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[1]?.aborted).toBe(false); // the first deadline did not end the later publish
    const laterError = await later;
    expect(performance.now() - laterStart).toBeGreaterThanOrEqual(119);
    // never sent (waiting, as for a connection): the abort fails them as unsent
    expect(isDianaError(firstError, 'E_BUS_PUBLISH_FAILED')).toBe(true);
    expect(isDianaError(laterError, 'E_BUS_PUBLISH_FAILED')).toBe(true);
  });

  it('sent and never confirmed: each publish of the group reports an unknown outcome at the deadline', async () => {
    // one millisecond for the whole group, whatever the machine's load (a busy CI once crossed one)
    const t0 = performance.now();
    const within = createPublishDeadlines(50, () => t0);
    const signals: AbortSignal[] = [];
    // sent already: the abort no longer stops it, and no reply comes
    const sent = (signal: AbortSignal) => {
      signals.push(signal);
      return new Promise<never>(() => {});
    };
    const started = performance.now();
    const errors = await Promise.all(
      ['a.one', 'b.two', 'c.three'].map((type) =>
        within(sent, type).then(
          () => new Error('confirmed'),
          (e: unknown) => e as Error,
        ),
      ),
    );
    expect(performance.now() - started).toBeGreaterThanOrEqual(49);
    expect(new Set(signals).size).toBe(1);
    expect(signals[0]?.aborted).toBe(true);
    expect(errors.map((e) => isDianaError(e, 'E_BUS_PUBLISH_OUTCOME_UNKNOWN'))).toEqual([true, true, true]);
    expect(errors.map((e) => e.message.split(':')[0])).toEqual(['a.one', 'b.two', 'c.three']);
  });

  it('a thousand publishes waiting on one signal raise no listener-leak warning', async () => {
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const within = createPublishDeadlines(30, () => 1_000);
      const { append, signals } = pending();
      const errors = await Promise.all(
        Array.from({ length: 1_000 }, () => within(append, 'test.happened').catch((e: unknown) => e)),
      );
      expect(new Set(signals).size).toBe(1); // one signal, a thousand listeners: the warning was possible
      expect(errors.every((e) => isDianaError(e, 'E_BUS_PUBLISH_FAILED'))).toBe(true);
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    expect(warnings).toEqual([]);
  });
});
