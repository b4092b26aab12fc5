// One consumer loop of a group (or a broadcast reader): read, handle with a deadline, acknowledge,
// retry with backoff, dead-letter, claim what a crashed consumer left. Over 300 lines because the
// loop, its retries and its claims share one state machine.
import { setMaxListeners } from 'node:events';
import {
  backoffDelay,
  createFailureStreak,
  DianaError,
  type FailureStreak,
  isDianaError,
  isUnavailable,
  type Logger,
  sleep,
} from '@diana/utils';
import type { EventBusConfig } from './config.js';
import { EVENT_BUS_ERROR_CODES } from './errors.js';
import { decodeEnvelope, type EventEnvelope, type EventRegistry } from './events.js';
import type { BusMetrics } from './metrics.js';
import type { Delivery, StreamTransport } from './types.js';

/** What a handler gets besides the event. */
export interface HandlerContext {
  /** 1 on the first attempt. */
  readonly attempt: number;
  readonly group: string;
  /** Aborted when the handler times out or the bus closes. */
  readonly signal: AbortSignal;
}

/** A subscriber's function: resolve to acknowledge, throw to retry (then dead-letter). */
export type EventHandler<E extends EventEnvelope = EventEnvelope> = (
  event: E,
  ctx: HandlerContext,
) => Promise<void> | void;

/** The state of one consumer loop, for health. */
export interface ConsumerStatus {
  readonly group: string;
  readonly types: readonly string[];
  readonly consumer: string;
  readonly running: boolean;
  /** When the read loop last went round (epoch ms). */
  readonly last_tick_at: number;
  readonly in_flight: number;
  /** Times the reader rebuilt or regained its connection. */
  readonly reconnects: number;
  /** Reads that failed in a row (0 once a read succeeds): above 0, the loop is failing now. */
  readonly consecutive_failures: number;
}

/** A running group consumer. */
export interface GroupConsumer {
  status(): ConsumerStatus;
  /** Stops reading, lets handlers finish until `deadline_ms`, leaves the rest pending. */
  stop(timeout_ms: number): Promise<void>;
  /** The entries it works on now (after a stop: the handlers it abandoned that still run). */
  held(): Delivery[];
}

interface ConsumerOptions {
  readonly transport: StreamTransport;
  readonly registry: EventRegistry;
  readonly group: string;
  readonly types: readonly string[];
  readonly consumer: string;
  readonly handler: EventHandler;
  readonly concurrency: number;
  readonly ordered_by_key: boolean;
  readonly config: EventBusConfig;
  readonly logger: Logger;
  readonly metrics: BusMetrics;
  /**
   * Shared by the bus's consumers: a first attempt to make the groups that fails, and the retry
   * that makes them (one warning for every consumer Redis was lost under as the app started).
   */
  readonly group_setup: FailureStreak;
}

/**
 * Reads a group's streams and runs the handler with at-least-once delivery: an entry is
 * acknowledged only after its handler succeeded; failures are retried with backoff and then
 * dead-lettered; invalid entries are dead-lettered at once; entries this consumer works on
 * have their lease renewed so nobody claims them; entries idle on a dead consumer are claimed.
 * With `ordered_by_key`, entries of one key run one after another in read order.
 */
export function startGroupConsumer(options: ConsumerOptions): GroupConsumer {
  const { transport, group, types, consumer, config, logger, metrics } = options;
  const reader = transport.createReader();
  const inFlight = new Map<string, Delivery>();
  const chains = new Map<string, Promise<void>>();
  const stopController = new AbortController();
  // Handlers waiting out a retry backoff listen for the stop: up to the concurrency.
  setMaxListeners(0, stopController.signal);
  const acks: Delivery[] = [];
  // Handled entries whose ack is queued or being sent: still pending in the store, so a claim
  // (or a read of the own pending list) may return them meanwhile; they are not run again.
  const acking = new Set<string>();
  // Entries acked while a claim was on its way: the claim may have found them still pending and
  // answer after the ack, its mark gone; they are not run from that answer. Emptied when no
  // claim is out, so it holds at most what was acked during one claim.
  const ackedUnderClaim = new Set<string>();
  let claimsOut = 0;
  let ackScheduled = false;
  let lastTick = Date.now();
  let draining = false;
  let reconnects = 0;
  // through an outage: a warning at the first failed read (and each minute after), not at each retry
  const readFailures = createFailureStreak({
    logger,
    message: 'read failed; retrying',
    recovered: 'reads work again',
    fields: { group },
  });
  const ackFailures = createFailureStreak({
    logger,
    message: 'ack failed; entries stay pending',
    recovered: 'acks work again',
    fields: { group },
  });
  reader.onReconnect(() => {
    reconnects++;
  });
  let slotFreed: (() => void) | undefined;

  let drained: (() => void) | undefined;
  const release = (delivery: Delivery) => {
    inFlight.delete(inFlightKey(delivery));
    slotFreed?.();
    if (inFlight.size === 0) drained?.();
  };
  /** Resolves when nothing is in flight, or after `ms`. */
  const drain = (ms: number) =>
    inFlight.size === 0 || ms <= 0
      ? Promise.resolve()
      : settleWithin(
          new Promise<void>((resolve) => {
            drained = resolve;
          }),
          ms,
        );
  /** After the acks of `batch` were sent: `error` when they failed (or may have). */
  const settleAcks = (batch: readonly Delivery[], error?: unknown) => {
    if (error === undefined) {
      if (claimsOut > 0) for (const delivery of batch) ackedUnderClaim.add(inFlightKey(delivery));
      ackFailures.succeeded();
    } else if (!draining) {
      // Not acknowledged: the entries stay pending and are redelivered (at-least-once).
      ackFailures.failed(error, { count: batch.length });
    }
    for (const delivery of batch) acking.delete(inFlightKey(delivery));
  };
  const flushAcks = async () => {
    ackScheduled = false;
    const batch = acks.splice(0);
    if (batch.length === 0) return;
    try {
      await transport.ack(group, batch);
      settleAcks(batch);
    } catch (error) {
      settleAcks(batch, error);
    }
  };
  // Acks ride the group's next read when the reader can take them (one round trip for both, not
  // two): the loop reads again as soon as it has room, so they wait at most for the read under
  // way to return — within block_ms, kept well below claim_idle_ms so no other consumer claims
  // an entry that is handled and not yet acknowledged. Only while the group is caught up (its
  // last read brought less than it asked for): with a backlog the next read answers at once
  // anyway, and acks sent beside it on the command connection keep the throughput (riding cost
  // a tenth of it). Otherwise they go at the next turn.
  const acksRide = reader.acks_with_reads === true && config.block_ms * 4 <= config.claim_idle_ms;
  let caughtUp = true;
  const ack = (delivery: Delivery) => {
    acks.push(delivery);
    acking.add(inFlightKey(delivery));
    if (!acksRide || !caughtUp || draining) scheduleFlush();
  };
  const scheduleFlush = () => {
    if (ackScheduled) return;
    ackScheduled = true;
    setImmediate(() => void flushAcks());
  };
  const deadLetter = async (delivery: Delivery, error: unknown, attempts: number) => {
    const message =
      error instanceof Error ? `${(error as DianaError).code ?? error.name}: ${error.message}` : String(error);
    try {
      await transport.deadLetter(group, delivery, { error: message.slice(0, 2_000), attempts });
      metrics.deadLettered(delivery.type, group);
      logger.warn(
        { type: delivery.type, entry_id: delivery.entry_id, group, attempts, error: message },
        'event dead-lettered',
      );
    } catch (dlqError) {
      logger.error({ err: dlqError, group, entry_id: delivery.entry_id }, 'dead-lettering failed; entry stays pending');
    }
  };

  // Handlers running now. A handler's abort controller is made only when it reads
  // `ctx.signal` (most never do); an abort before that is kept as its reason, so a signal
  // read late (after a timeout or the stop) is born aborted.
  interface Running {
    controller?: AbortController;
    reason?: unknown;
  }
  const handlers = new Set<Running>();
  const abortRun = (run: Running, reason: unknown) => {
    run.reason ??= reason;
    run.controller?.abort(run.reason);
  };
  const runHandler = (event: EventEnvelope, attempt: number) =>
    new Promise<void>((resolve, reject) => {
      const run: Running = {};
      const ctx: HandlerContext = {
        attempt,
        group,
        get signal() {
          if (!run.controller) {
            run.controller = new AbortController();
            if (run.reason !== undefined) run.controller.abort(run.reason);
          }
          return run.controller.signal;
        },
      };
      const started = performance.now();
      let settled = false;
      const settle = (ok: boolean, error?: unknown) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        handlers.delete(run);
        metrics.handlerDuration(event.type, group, performance.now() - started);
        if (ok) resolve();
        else reject(error);
      };
      // set once the handler ran over its time while its key's next run waits for it to end
      let overtime: (() => void) | undefined;
      const ended = (ok: boolean, error?: unknown) => {
        if (overtime) overtime();
        else settle(ok, error);
      };
      const timer = setTimeout(() => {
        const error = new DianaError(
          EVENT_BUS_ERROR_CODES.HANDLER_TIMEOUT,
          `handler ran over ${config.handler_timeout_ms} ms`,
        );
        abortRun(run, error);
        if (!options.ordered_by_key) return settle(false, error);
        // its key's next run (this event's retry, or the key's next event) would run beside it: it
        // waits until the handler ends, up to another handler_timeout_ms so a handler that never
        // ends does not hold its key for ever
        const overdue = setTimeout(() => {
          logger.error(
            { type: event.type, group, id: event.id, key: event.key },
            'handler still runs another handler_timeout_ms after its timeout: the next run of its key starts beside it (order not kept)',
          );
          settle(false, error);
        }, config.handler_timeout_ms);
        overdue.unref();
        overtime = () => {
          clearTimeout(overdue);
          settle(false, error);
        };
      }, config.handler_timeout_ms);
      handlers.add(run);
      queueMicrotask(() => {
        try {
          const result = options.handler(event, ctx);
          if (result && typeof result.then === 'function') {
            result.then(
              () => ended(true),
              (error: unknown) => ended(false, error),
            );
          } else ended(true);
        } catch (error) {
          ended(false, error);
        }
      });
    });

  const handle = async (delivery: Delivery, event: EventEnvelope) => {
    // `attempt` counts what max_attempts limits; `failures`, outages included, the backoff
    let attempt = delivery.deliveries;
    let failures = 0;
    for (;;) {
      if (stopController.signal.aborted) return release(delivery); // left pending for others
      try {
        await runHandler(event, attempt);
        ack(delivery);
        metrics.acked(event.type, group, Date.now() - Date.parse(event.occurred_at));
        return release(delivery);
      } catch (error) {
        if (stopController.signal.aborted) return release(delivery);
        failures++;
        // a backend the handler needs is down (E_DB_UNAVAILABLE, E_STATE_UNAVAILABLE, …): not the
        // event's fault, so it does not use up an attempt — a PostgreSQL restart of a few seconds
        // dead-lettered a payment notice after three tries in 0.4 s. Retried, the backoff growing
        // to backoff_max_ms, until the backend answers or the consumer stops.
        const outage = isUnavailable(error);
        if (!outage && attempt >= config.max_attempts) {
          await deadLetter(delivery, error, attempt);
          return release(delivery);
        }
        metrics.retried(event.type, group);
        // a handler that ran over its time held something for that long (a query that never
        // settled, a lock): said at warn, the others at debug (an outage says so in its loops)
        const timedOut = isDianaError(error, EVENT_BUS_ERROR_CODES.HANDLER_TIMEOUT);
        logger[timedOut ? 'warn' : 'debug'](
          { err: error, type: event.type, group, id: event.id, attempt, outage },
          timedOut ? 'handler ran over its time; retrying' : 'handler failed; retrying',
        );
        if (!outage) attempt++;
        const delay = backoffDelay(failures, { base_ms: config.backoff_base_ms, max_ms: config.backoff_max_ms });
        try {
          await sleep(delay, stopController.signal);
        } catch {
          return release(delivery);
        }
      }
    }
  };

  const dispatch = (delivery: Delivery) => {
    const id = inFlightKey(delivery);
    if (inFlight.has(id) || acking.has(id)) return;
    inFlight.set(id, delivery);
    // a replay meant for another group is that group's alone, before anything is read of it: a
    // letter whose payload still fails its schema was dead-lettered again by every group that
    // reads the stream, so each replay of it gave back as many letters as groups (2 → 4 → 8)
    if (delivery.only_group !== undefined && delivery.only_group !== group) {
      ack(delivery);
      release(delivery);
      return;
    }
    // delivered past max_attempts: no run of it ever answered (its process died each time, a
    // crash or an OOM kill, before the handler resolved or threw); run again, it kills the next
    if (delivery.deliveries > config.max_attempts) {
      const runs = delivery.deliveries - 1;
      const error = `delivered ${runs} times without an answer: the process handling it died each time`;
      void deadLetter(delivery, error, runs).then(() => release(delivery));
      return;
    }
    let event: EventEnvelope;
    try {
      event = decodeEnvelope(options.registry, delivery.raw, delivery.type);
    } catch (error) {
      // A payload that does not match its schema never will: no retries.
      void deadLetter(delivery, error, delivery.deliveries).then(() => release(delivery));
      return;
    }
    if (!options.ordered_by_key) {
      void handle(delivery, event);
      return;
    }
    const key = event.key ?? event.id;
    const next = (chains.get(key) ?? Promise.resolve()).then(() => handle(delivery, event));
    chains.set(key, next);
    void next.finally(() => {
      if (chains.get(key) === next) chains.delete(key);
    });
  };

  const waitForSlot = () =>
    inFlight.size < options.concurrency
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          slotFreed = () => {
            if (inFlight.size < options.concurrency || draining) {
              slotFreed = undefined;
              resolve();
            }
          };
        });

  const ensureGroups = async () => {
    for (const type of types) await transport.ensureGroup(type, group);
  };
  // false from a failed first attempt until a retry has made them
  let groupsMade = true;

  // First what this consumer's name left pending (a restart under the same name takes its
  // entries back at once instead of after claim_idle_ms), then new entries.
  let ownPending: Map<string, string> | undefined = new Map(types.map((type) => [type, '0-0']));
  const loop = async () => {
    while (!draining) {
      lastTick = Date.now();
      await waitForSlot();
      if (draining) break;
      // not with the name's own pending list (that read does not take them), nor with a backlog
      const riding = acksRide && caughtUp && !ownPending ? acks.splice(0) : [];
      if (acks.length > 0) scheduleFlush();
      const count = Math.min(config.batch_size, options.concurrency - inFlight.size);
      try {
        // not made at the start (Redis lost): before each read until they are, or the first read
        // back fails with NOGROUP; after a failed read: NOGROUP after a restart or a deleted stream
        if (!groupsMade || readFailures.failures > 0) {
          await ensureGroups();
          if (!groupsMade) {
            groupsMade = true;
            options.group_setup.succeeded();
          }
        }
        const batch = await reader.readGroup({
          group,
          consumer,
          types,
          count,
          block_ms: config.block_ms,
          ...(ownPending ? { own_pending: ownPending } : {}),
          ...(riding.length > 0 ? { ack: riding } : {}),
        });
        if (riding.length > 0) settleAcks(riding);
        caughtUp = batch.length < count;
        readFailures.succeeded();
        if (ownPending && batch.length === 0) ownPending = undefined;
        for (const delivery of batch) dispatch(delivery);
      } catch (error) {
        if (riding.length > 0) settleAcks(riding, error);
        if (draining) break; // the stop closed the reader under a blocking read
        const failures = readFailures.failed(error);
        await sleep(backoffDelay(failures, { base_ms: 100, max_ms: 5_000 }), stopController.signal).catch(() => {});
      }
    }
  };

  const timers = [
    setInterval(
      () => {
        if (inFlight.size === 0) return;
        transport.renew(group, consumer, [...inFlight.values()]).catch((error: unknown) => {
          logger.debug({ err: error, group }, 'lease renewal failed');
        });
      },
      Math.max(10, Math.floor(config.claim_idle_ms / 3)),
    ),
    setInterval(() => {
      const room = options.concurrency - inFlight.size;
      // not while the name's own pending list is being read: an entry claimed onto the name then
      // (a peer's hand-back) would be read from that list again, and handled twice
      if (room <= 0 || draining || ownPending) return;
      claimsOut++;
      transport
        .claim({ group, consumer, types, min_idle_ms: config.claim_idle_ms, count: room })
        .then((claimed) => {
          for (const delivery of claimed) if (!ackedUnderClaim.has(inFlightKey(delivery))) dispatch(delivery);
        })
        .catch((error: unknown) => logger.debug({ err: error, group }, 'claim failed'))
        .finally(() => {
          if (--claimsOut === 0) ackedUnderClaim.clear();
        });
    }, config.claim_interval_ms),
  ];
  for (const timer of timers) timer.unref();

  const running = ensureGroups().then(loop, (error: unknown) => {
    groupsMade = false;
    options.group_setup.failed(error, { group });
    return loop();
  });

  return {
    status: () => ({
      group,
      types,
      consumer,
      running: !stopController.signal.aborted,
      last_tick_at: lastTick,
      in_flight: inFlight.size,
      reconnects,
      consecutive_failures: readFailures.failures,
    }),
    held: () => [...inFlight.values()],
    async stop(timeout_ms) {
      const deadline = Date.now() + timeout_ms;
      // Stop reading and claiming; let running handlers finish until the deadline.
      draining = true;
      for (const timer of timers) clearInterval(timer);
      slotFreed?.();
      await drain(deadline - Date.now());
      // What is still running is abandoned: never acknowledged, it stays pending for others. A
      // handler that ends on its signal's abort gets a moment to, so the bus hands its entry back.
      stopController.abort(new DianaError(EVENT_BUS_ERROR_CODES.BUS_CLOSED, 'consumer stopped'));
      for (const run of handlers) abortRun(run, stopController.signal.reason);
      await drain(ABORT_GRACE_MS);
      await flushAcks();
      // Closing the reader ends a blocking read at once (nothing waits out block_ms); the loop
      // then ends by itself, given until the deadline (at least a moment) to see it.
      await reader.close();
      await settleWithin(running, Math.max(100, deadline - Date.now()));
    },
  };
}

/** How long a stop waits for the handlers it aborted to end. */
const ABORT_GRACE_MS = 100;

/** Waits for `work` at most `ms`, leaving no timer behind either way. */
export async function settleWithin(work: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    work.catch(() => {}),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, ms);
    }),
  ]);
  clearTimeout(timer);
}

/** Entry ids are per stream: two types, or two partitions of one, may each have entry 1-0. */
function inFlightKey(delivery: Delivery): string {
  return delivery.partition
    ? `${delivery.type}#${delivery.partition}\u0000${delivery.entry_id}`
    : `${delivery.type}\u0000${delivery.entry_id}`;
}
