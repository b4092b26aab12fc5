import { captureLogLines } from '@diana/test-services';
import { describe, expect, it } from 'vitest';
import { createManualClock } from '../src/clock.js';
import { createFailureStreak } from '../src/failure-streak.js';
import { createLogger } from '../src/logger.js';

const setup = (repeat_ms?: number) => {
  const out = captureLogLines();
  const clock = createManualClock(1_000);
  const logger = createLogger({ level: 'debug', destination: out.destination });
  const streak = createFailureStreak({
    logger,
    message: 'read failed; retrying',
    recovered: 'reads work again',
    clock,
    fields: { group: 'g' },
    ...(repeat_ms === undefined ? {} : { repeat_ms }),
  });
  return { streak, clock, lines: () => out.lines };
};

describe('failure streak', () => {
  it('warns at the first failure, logs the repeats at debug, and says once when calls work again', () => {
    const { streak, clock, lines } = setup();
    expect(streak.failed(new Error('ECONNREFUSED'), { count: 2 })).toBe(1);
    for (let i = 0; i < 9; i++) {
      clock.advance(2_000);
      streak.failed(new Error('ECONNREFUSED'));
    }
    expect(streak.failures).toBe(10);
    clock.advance(2_000);
    streak.succeeded();
    expect(streak.failures).toBe(0);
    // a success with no failure before it says nothing
    streak.succeeded();

    const logged = lines();
    expect(logged.map((l) => l.level)).toEqual(['warn', ...Array(9).fill('debug'), 'info']);
    expect(logged[0]).toMatchObject({ msg: 'read failed; retrying', group: 'g', count: 2, failures: 1 });
    expect(logged[0]?.err).toMatchObject({ message: 'ECONNREFUSED' });
    expect(logged[9]).toMatchObject({ level: 'debug', group: 'g', failures: 10 });
    expect(logged[9]).not.toHaveProperty('count');
    expect(logged[10]).toMatchObject({ msg: 'reads work again', group: 'g', failures: 10, failing_ms: 20_000 });
  });

  it('warns again each repeat_ms while the failures go on, with how long they have', () => {
    const { streak, clock, lines } = setup(5_000);
    for (let i = 0; i < 12; i++) {
      streak.failed(new Error('down'));
      clock.advance(1_000);
    }
    const warnings = lines().filter((l) => l.level === 'warn');
    // at 0, 5 and 10 s
    expect(warnings.map((l) => [l.failures, l.failing_ms])).toEqual([
      [1, undefined],
      [6, 5_000],
      [11, 10_000],
    ]);
  });

  it('logs no error when there is none, and no recovery line when it has no message', () => {
    const { destination, lines: logged } = captureLogLines();
    const logger = createLogger({ level: 'debug', destination });
    const streak = createFailureStreak({ logger, message: 'rebuilding the connection' });
    streak.failed(undefined, { reason: 'hung' });
    streak.succeeded();
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ level: 'warn', reason: 'hung', failures: 1 });
    expect(logged[0]).not.toHaveProperty('err');
    expect(streak.failures).toBe(0);
  });

  it('with settle_ms, failures and successes by turns stay one outage: one warning, one recovery once they settle', () => {
    const { destination, lines: logged } = captureLogLines();
    const clock = createManualClock(0);
    const logger = createLogger({ level: 'debug', destination });
    const streak = createFailureStreak({ logger, message: 'down', recovered: 'up again', settle_ms: 5_000, clock });
    // one master of a cluster down: every third call fails, for 3 s
    for (let i = 0; i < 30; i++) {
      if (i % 3 === 0) expect(streak.failed(new Error('x'))).toBe(1);
      else streak.succeeded();
      expect(streak.failures).toBe(i % 3 === 0 ? 1 : 0);
      clock.advance(100);
    }
    clock.advance(5_000);
    streak.succeeded();
    expect(logged.filter((l) => l.level === 'warn')).toHaveLength(1);
    expect(logged.filter((l) => l.level === 'debug')).toHaveLength(9);
    expect(logged.filter((l) => l.level === 'info')).toMatchObject([
      { msg: 'up again', failures: 10, failing_ms: 8_000 },
    ]);
  });

  it('starts a new streak after a success: its first failure warns again', () => {
    const { streak, clock, lines } = setup();
    streak.failed(new Error('a'));
    clock.advance(100);
    streak.failed(new Error('a'));
    streak.succeeded();
    clock.advance(100);
    streak.failed(new Error('b'));
    expect(lines().map((l) => [l.level, l.failures])).toEqual([
      ['warn', 1],
      ['debug', 2],
      ['info', 2],
      ['warn', 1],
    ]);
  });
});
