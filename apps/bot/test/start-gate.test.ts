// The start gate's last line names why a backend did not answer, even when its last attempts only
// timed out (a driver backing off between reconnects answers nothing at all).
import { DianaError, isDianaError, type Logger, SILENT_LOGGER } from '@diana/utils';
import { describe, expect, it } from 'vitest';
import { createStartGate } from '../src/start-gate.js';

const refused = () => Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:5999'));
const silent = () => new Promise<never>(() => {});

describe('start gate', () => {
  it('ends with the last reason given when the last attempts only time out', async () => {
    const reasons: string[] = [];
    const waits: unknown[] = [];
    const logger: Logger = { ...SILENT_LOGGER, warn: (obj: unknown) => void waits.push(obj), child: () => logger };
    // 3 s: a third attempt comes at most 750 ms in (250 ms backoff, half jitter); 1.5 s left a busy
    // machine 750 ms for it
    const gate = createStartGate({
      start_timeout_ms: 3_000,
      attempt_timeout_ms: 200,
      logger,
      onWait: (_dependency, reason) => reasons.push(reason),
    });
    let attempts = 0;
    const error = await gate
      .waitFor('postgres', () => (++attempts <= 2 ? refused() : silent()))
      .catch((e: unknown) => e);
    expect(attempts).toBeGreaterThan(2); // the fault: attempts after the refusals got no answer
    expect(isDianaError(error, 'E_BOT_START_TIMEOUT')).toBe(true);
    expect((error as Error).message).toMatch(
      /^postgres did not answer within the start deadline of 3 s \(DIANA_BOT_START_TIMEOUT_MS\): last error: connect ECONNREFUSED 127\.0\.0\.1:5999; then no answer within the attempt timeout$/,
    );
    expect(reasons).toEqual(['connect ECONNREFUSED 127.0.0.1:5999']); // the console's one line says why
    expect(waits.at(-1)).toMatchObject({ reason: expect.stringContaining('last error: connect ECONNREFUSED') });
  });

  it('a backend that keeps refusing ends the start with its refusal, not with the last attempt the deadline cut short', async () => {
    const gate = createStartGate({ start_timeout_ms: 1_500, attempt_timeout_ms: 400, logger: SILENT_LOGGER });
    const created = Date.now();
    let attempts = 0;
    const error = await gate
      .waitFor('postgres', async () => {
        attempts++;
        await new Promise((resolve) => setTimeout(resolve, 20)); // a refusal takes a moment to come back
        return refused();
      })
      .catch((e: unknown) => e);
    expect(attempts).toBeGreaterThan(1);
    expect(Date.now() - created).toBeGreaterThanOrEqual(1_450); // it waited out the deadline
    expect(isDianaError(error, 'E_BOT_START_TIMEOUT')).toBe(true);
    // (before: "…: last error: connect ECONNREFUSED 127.0.0.1:5999; then no answer within the attempt
    // timeout", from a last attempt started a moment before the deadline)
    expect((error as Error).message).toBe(
      'postgres did not answer within the start deadline of 2 s (DIANA_BOT_START_TIMEOUT_MS): connect ECONNREFUSED 127.0.0.1:5999',
    );
  });

  it('a probe that ends on its signal with a coded reason gives that reason; a bare abort error is the timeout', async () => {
    const endsOnSignal = (reason: () => Error) => (signal: AbortSignal) =>
      new Promise<never>((_, reject) => signal.addEventListener('abort', () => reject(reason()), { once: true }));
    const coded = await createStartGate({ start_timeout_ms: 700, attempt_timeout_ms: 200, logger: SILENT_LOGGER })
      .waitFor(
        'mongodb',
        endsOnSignal(
          () => new DianaError('E_DB_UNAVAILABLE', 'MongoDB is not reachable: connect ECONNREFUSED 127.0.0.1:1'),
        ),
      )
      .catch((e: unknown) => e);
    // (before: "…: no answer within the attempt timeout", the gate's own rejection first)
    expect((coded as Error).message).toBe(
      'mongodb did not answer within the start deadline of 1 s (DIANA_BOT_START_TIMEOUT_MS): MongoDB is not reachable: connect ECONNREFUSED 127.0.0.1:1',
    );
    const bare = await createStartGate({ start_timeout_ms: 700, attempt_timeout_ms: 200, logger: SILENT_LOGGER })
      .waitFor(
        'telegram',
        endsOnSignal(() => Object.assign(new Error('This operation was aborted'), { name: 'AbortError' })),
      )
      .catch((e: unknown) => e);
    expect((bare as Error).message).toMatch(/: no answer within the attempt timeout$/);
  });

  it("a probe's own timeout reads as the gate's after a reason, and a real reason replaces an older one", async () => {
    // 3 s: a third attempt before the deadline even on a busy machine (1 s left 250 ms for it)
    const gate = createStartGate({ start_timeout_ms: 3_000, attempt_timeout_ms: 200, logger: SILENT_LOGGER });
    let attempts = 0;
    const error = await gate
      .waitFor('postgres', () => {
        attempts++;
        if (attempts === 1) return refused();
        if (attempts === 2) return Promise.reject(new Error('database "x" does not exist'));
        return Promise.reject(new DianaError('E_DB_TIMEOUT', 'ping took longer than 200 ms'));
      })
      .catch((e: unknown) => e);
    expect(attempts).toBeGreaterThan(2);
    expect((error as Error).message).toMatch(
      /: last error: database "x" does not exist; then no answer within the attempt timeout$/,
    );
  });

  it('a failure marked final ends the wait at once, naming it, with no retry and no wait reported', async () => {
    const waits: string[] = [];
    const gate = createStartGate({
      start_timeout_ms: 60_000,
      logger: SILENT_LOGGER,
      onWait: (dependency) => waits.push(dependency),
    });
    let attempts = 0;
    const error = await gate
      .waitFor(
        'redis',
        () => {
          attempts++;
          return Promise.reject(
            new DianaError('E_REDIS_DATABASE_REFUSED', 'redis at x refused database 99 of its URL'),
          );
        },
        { final: (e) => isDianaError(e, 'E_REDIS_DATABASE_REFUSED') },
      )
      .catch((e: unknown) => e);
    expect(attempts).toBe(1);
    expect(isDianaError(error, 'E_BOT_START_FAILED')).toBe(true);
    expect((error as Error).message).toBe('redis cannot be used: redis at x refused database 99 of its URL');
    expect(waits).toEqual([]);
  });

  it('a probe that answers ends the wait', async () => {
    const gate = createStartGate({ start_timeout_ms: 1_000, logger: SILENT_LOGGER });
    let attempts = 0;
    expect(await gate.waitFor('redis', async () => (++attempts < 2 ? refused() : 'pong'))).toBe('pong');
    expect(gate.waiting).toBeUndefined();
  });
});
