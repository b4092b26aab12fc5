import { backoffDelay, createFailureStreak, type Logger, sleep } from '@diana/utils';
import type { ConsumerStatus, EventHandler } from './consumer.js';
import { settleWithin } from './consumer.js';
import { decodeEnvelope, type EventRegistry } from './events.js';
import type { StreamTransport } from './types.js';

/** A running broadcast subscription. */
export interface BroadcastConsumer {
  status(): ConsumerStatus;
  stop(): Promise<void>;
}

interface BroadcastOptions {
  readonly transport: StreamTransport;
  readonly registry: EventRegistry;
  readonly types: readonly string[];
  readonly handler: EventHandler;
  /** Called before the first read and after every reconnect: rebuild state from the source. */
  readonly onResync?: () => Promise<void> | void;
  readonly block_ms: number;
  readonly batch_size: number;
  readonly logger: Logger;
}

/**
 * Every process receives every event from now on (no group, no acknowledgements): for cache
 * and config invalidation. Nothing is retried; a reader that lost its connection calls
 * `onResync` so that what it may have missed is rebuilt from the source of truth.
 */
export function startBroadcastConsumer(options: BroadcastOptions): BroadcastConsumer {
  const { transport, types, logger } = options;
  const reader = transport.createReader();
  const stop = new AbortController();
  let lastTick = Date.now();
  let needsResync = true;
  let reconnects = 0;
  const readFailures = createFailureStreak({
    logger,
    message: 'broadcast read failed; retrying',
    recovered: 'broadcast reads work again',
  });
  reader.onReconnect(() => {
    needsResync = true;
    reconnects++;
  });

  const loop = async () => {
    const cursors = new Map<string, string>();
    while (!stop.signal.aborted) {
      lastTick = Date.now();
      try {
        // "from now on" is fixed once the transport first answers: with Redis down at start,
        // this is retried like any read (it used to end the loop for the life of the process)
        for (const type of types) if (!cursors.has(type)) cursors.set(type, await transport.currentEnd(type));
        if (needsResync) {
          needsResync = false;
          await options.onResync?.();
        }
        const batch = await reader.readBroadcast({ cursors, count: options.batch_size, block_ms: options.block_ms });
        readFailures.succeeded();
        for (const delivery of batch) {
          try {
            const event = decodeEnvelope(options.registry, delivery.raw, delivery.type);
            await options.handler(event, { attempt: 1, group: '*broadcast*', signal: stop.signal });
          } catch (error) {
            logger.warn({ err: error, type: delivery.type, entry_id: delivery.entry_id }, 'broadcast handler failed');
          }
        }
      } catch (error) {
        if (stop.signal.aborted) break; // the stop closed the reader under a blocking read
        const failures = readFailures.failed(error);
        needsResync = true;
        await sleep(backoffDelay(failures, { base_ms: 100, max_ms: 5_000 }), stop.signal).catch(() => {});
      }
    }
  };
  const running = loop().catch((error: unknown) => logger.error({ err: error }, 'broadcast loop ended'));

  return {
    status: () => ({
      group: '*broadcast*',
      types,
      consumer: '*',
      running: !stop.signal.aborted,
      last_tick_at: lastTick,
      in_flight: 0,
      reconnects,
      consecutive_failures: readFailures.failures,
    }),
    async stop() {
      stop.abort();
      // closing the reader ends a blocking read at once: the loop sees the stop
      await reader.close();
      await settleWithin(running, 1_000);
    },
  };
}
