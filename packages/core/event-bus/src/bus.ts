// The event bus: publish (direct, batched, or through the outbox of the running transaction),
// subscribe (groups and broadcast), dead letters, trimming, health. Over 300 lines because publish
// and subscribe share one registry, one transport and one closing state; the loops are
// consumer.ts and broadcast.ts, append batching is the transport's, the outbox relay.ts.
import { hostname } from 'node:os';
import type { Database } from '@diana/db';
import type { TransactionSql } from '@diana/postgres';
import {
  type Clock,
  type Closeable,
  type CloseOptions,
  createCloser,
  createFailureStreak,
  DianaError,
  getPackageLogger,
  type Logger,
  newId,
  parseOrThrow,
  runPeriodically,
  SYSTEM_CLOCK,
} from '@diana/utils';
import { type BroadcastConsumer, startBroadcastConsumer } from './broadcast.js';
import { EventBusConfig, type EventBusConfigInput } from './config.js';
import { type ConsumerStatus, type EventHandler, type GroupConsumer, startGroupConsumer } from './consumer.js';
import { EVENT_BUS_ERROR_CODES } from './errors.js';
import {
  type EventEnvelope,
  type EventRegistry,
  type EventType,
  encodeEnvelope,
  type Payload,
  type PayloadInput,
  validatePayload,
} from './events.js';
import { type BusMetrics, createBusMetrics, observeStreams } from './metrics.js';
import { type OutboxRow, outboxStatement, writeToOutbox } from './outbox.js';
import { createPublishDeadlines } from './publish-deadline.js';
import type { DeadLetter, GroupStats, StreamTransport } from './types.js';

// a dead letter's id: `<ms>-<seq>`, or `p/<ms>-<seq>` on partition p > 0
const DLQ_ID = /^(\d{1,3}\/)?\d{1,20}-\d{1,20}$/;

/** Options of `publish`. */
export interface PublishOptions {
  /** Ordering key (e.g. a user id). */
  readonly key?: string;
  readonly correlation_id?: string;
  readonly causation_id?: string;
  readonly user_id?: string;
  /**
   * @deprecated Not needed: with `deps.db`, a publish inside `db.transaction(...)` joins that
   * transaction through `db.session()` and goes through the outbox by itself. Still honoured
   * (the outbox in this transaction) until the last caller is converted.
   */
  readonly tx?: TransactionSql;
  /**
   * Appends at once even inside a transaction (never the outbox): only for an event about a
   * change outside the database — a Redis write — that stands whether the transaction commits
   * or rolls back (user-state's ephemeral slices).
   */
  readonly direct?: boolean;
  /**
   * The database whose transaction in progress this publish joins, instead of `deps.db`: for a
   * component that owns its `db` and whose guarantee rests on the outbox (the config and
   * user-state managers), so that it holds whichever bus it is handed.
   */
  readonly db?: Database;
  /** Sets correlation and causation from the event being handled. */
  readonly cause?: EventEnvelope;
}

/** Options of a group subscription. */
export interface SubscribeOptions {
  /** Handlers running at once in this process. @default config.concurrency */
  readonly concurrency?: number;
  /** Handle events of one key one after another. @default false */
  readonly ordered_by_key?: boolean;
}

/** Options of a broadcast subscription. */
export interface BroadcastOptions {
  readonly mode: 'broadcast';
  /** Called before the first event and after every reconnect. */
  readonly onResync?: () => Promise<void> | void;
}

/** An event of type T with its typed payload. */
export type EventOf<R extends EventRegistry, T extends EventType<R>> = EventEnvelope<T, Payload<R, T>>;

/** A handle to stop one subscription. */
export interface Subscription {
  /** Stops reading; a running handler finishes (and is acknowledged) until `timeout_ms` (default 10 s). */
  close(options?: CloseOptions): Promise<void>;
}

/** Health of the bus: each loop's last tick and each group's lag and pending entries. */
export interface BusHealth {
  readonly transport: string;
  readonly consumers: readonly ConsumerStatus[];
  readonly groups: readonly GroupStats[];
  /** Why group figures are missing (the transport did not answer); loop states are still current. */
  readonly error?: string;
}

/** The event bus every module receives as `deps.bus`. */
export interface EventBusService<R extends EventRegistry = EventRegistry> extends Closeable {
  /**
   * Validates, then: inside a transaction of `deps.db` (`db.transaction(...)` anywhere up the
   * async call chain) writes to the outbox in that transaction — delivered by the relay once it
   * commits, never if it rolls back; outside one, appends (resolves once the transport accepted it).
   */
  publish<T extends EventType<R>>(
    type: T,
    payload: PayloadInput<R, T>,
    options?: PublishOptions,
  ): Promise<EventOf<R, T>>;
  /** Each event of `types` is handled once per group (at-least-once; acknowledged after success). */
  subscribe<T extends EventType<R>>(
    group: string,
    types: T | readonly T[],
    handler: EventHandler<EventOf<R, T>>,
    options?: SubscribeOptions,
  ): Subscription;
  /** Every process receives every event of `types` from now on (no acknowledgements). */
  subscribe<T extends EventType<R>>(
    types: T | readonly T[],
    handler: EventHandler<EventOf<R, T>>,
    options: BroadcastOptions,
  ): Subscription;
  /**
   * A module's subscription (it names event types as strings: modules never import each other):
   * the types this bus knows are subscribed (in its group, or broadcast); the rest are returned as
   * `skipped` (nobody publishes them in this app) — none subscribed when all are.
   */
  subscribeModule(subscription: ModuleSubscription): {
    readonly subscription?: Subscription;
    readonly skipped: string[];
  };
  /** True the first time (group, event id) is marked within `dedupe_ttl_ms`: an idempotency guard. */
  once(group: string, eventId: string): Promise<boolean>;
  health(): Promise<BusHealth>;
  /** Each subscription's read loop now (no round trip): for readiness checks and gauges. */
  loops(): readonly ConsumerStatus[];
  readonly dlq: {
    list(type: EventType<R>, limit?: number): Promise<DeadLetter[]>;
    /** Back on its stream for the failed group only. */
    replay(type: EventType<R>, dlqIds?: readonly string[]): Promise<number>;
    purge(type: EventType<R>, dlqIds?: readonly string[]): Promise<number>;
    /** The registry's types that have dead letters waiting, by name, each with how many (one count per type). */
    counts(): Promise<Array<{ readonly type: string; readonly count: number }>>;
  };
  /** Trims acknowledged entries of every known stream now (it also runs on a timer). */
  trim(): Promise<number>;
  /** Stops every subscription: running handlers finish until `timeout_ms` (default 10 000). */
  close(options?: CloseOptions): Promise<void>;
}

/**
 * A subscription a module asks the app to register on the bus: a group (or `mode:
 * 'broadcast'`), event types and a handler. Modules never import each other, so they name
 * the events they consume; the app skips types its registry does not hold.
 */
export interface ModuleSubscription {
  readonly group: string;
  readonly types: readonly string[];
  readonly handler: (event: EventEnvelope) => Promise<void>;
  readonly mode?: 'broadcast';
}

/** What `createEventBus` needs. */
export interface EventBusDeps<R extends EventRegistry> {
  readonly transport: StreamTransport;
  readonly events: R;
  /**
   * The database whose transactions publishes join: a publish inside `db.transaction(...)`
   * goes to the outbox in that transaction (run `createOutboxRelay` on the same database).
   * Without it every publish appends at once, even inside a transaction.
   */
  readonly db?: Database;
  readonly logger?: Logger;
  readonly clock?: Clock;
  /**
   * Stable per process slot, so a restarted process finds its own pending entries; unique among
   * the consumers running at once (a stop hands back what its name holds).
   * @default hostname-pid, and hostname-pid-n for the n-th bus of one process
   */
  readonly consumer_name?: string;
}

// Buses made in this process: a second one (a second app in a test, a tool beside the bot) gets a
// name of its own, else the stop of one would hand back what the other is still handling.
let busesMade = 0;
const defaultConsumerName = () => {
  busesMade++;
  return busesMade === 1 ? `${hostname()}-${process.pid}` : `${hostname()}-${process.pid}-${busesMade}`;
};

/** Creates the bus over a transport (redis-streams in production, memory in tests). */
export function createEventBus<R extends EventRegistry>(
  config: EventBusConfigInput,
  deps: EventBusDeps<R>,
): EventBusService<R> {
  const settings = parseOrThrow(EventBusConfig, config, {
    code: EVENT_BUS_ERROR_CODES.BUS_CONFIG,
    message: 'invalid event bus config',
  });
  const logger = getPackageLogger(deps.logger, 'event-bus');
  const clock = deps.clock ?? SYSTEM_CLOCK;
  const { transport, events } = deps;
  const metrics: BusMetrics = createBusMetrics();
  const appendWithin = createPublishDeadlines(settings.publish_timeout_ms);
  const consumerName = deps.consumer_name ?? defaultConsumerName();
  const groupConsumers: GroupConsumer[] = [];
  // consumers that could not make their groups as they started (Redis lost after the app's ping):
  // one warning for all of them, the rest at debug, one line once their retries made them
  const groupSetup = createFailureStreak({
    logger,
    message: 'could not create consumer groups; each consumer retries before its reads',
    recovered: 'consumer groups created',
  });
  const broadcasts: BroadcastConsumer[] = [];
  const knownTypes = new Set<string>(Object.keys(events));
  const groupsByType = new Map<string, Set<string>>();
  // `closing` from close() on: no new subscriptions. `closed` once the consumers have stopped:
  // until then their running handlers may still publish (a follow-up, an outbox row), or a
  // graceful stop would fail them, retry them and dead-letter events it should leave alone.
  let closing = false;
  let closed = false;

  // every type this process knows, subscribed or not: a stream no group reads (a type published
  // for a module not deployed, or read by broadcast only) kept every entry up to max_len before
  const trimOptions = settings.unread_retention_ms > 0 ? { unread_kept_ms: settings.unread_retention_ms } : {};
  const trimAll = async () => {
    let removed = 0;
    for (const type of new Set([...knownTypes, ...groupsByType.keys()]))
      removed += await transport.trim(type, trimOptions);
    return removed;
  };
  // every trim_interval_ms; failing trims (Redis down, or a stream that cannot be trimmed: it
  // grows) warn once, and say when they work again
  const stopTrims = new AbortController();
  void runPeriodically(
    {
      interval_ms: settings.trim_interval_ms,
      signal: stopTrims.signal,
      failures: createFailureStreak({
        logger,
        message: 'trimming streams failed; tried again at the next interval',
        recovered: 'trimming streams works again',
      }),
    },
    trimAll,
  );
  // lag, pending and dead letters of the types this process consumes, read at each collection
  const unobserve = observeStreams(async () => {
    const types = [...groupsByType.keys()];
    const [groups, counts] = await Promise.all([
      Promise.all(types.map((type) => transport.groupStats(type))),
      Promise.all(types.map((type) => transport.countDeadLetters(type))),
    ]);
    return { groups: groups.flat(), dead_letters: types.map((type, i) => ({ type, count: counts[i] ?? 0 })) };
  });

  const assertOpen = (shut: boolean) => {
    if (shut) throw new DianaError(EVENT_BUS_ERROR_CODES.BUS_CLOSED, 'the event bus is closed');
  };
  // `dlq_id`s as `dlq.list` gives them (`<ms>-<seq>`, `p/<ms>-<seq>` on partition p > 0): a lone
  // string was read letter by letter and matched nothing, so `replay` answered 0 and said nothing
  const deadLetterIds = (ids: readonly string[] | undefined) => {
    if (ids === undefined) return undefined;
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string' && DLQ_ID.test(id)))
      throw new DianaError(
        EVENT_BUS_ERROR_CODES.BUS_CONFIG,
        "dead-letter ids are an array of dlq_id from dlq.list (e.g. ['1733000000000-0'])",
        { context: { ids: String(ids).slice(0, 80) } },
      );
    return ids;
  };
  const asList = (types: string | readonly string[]) => {
    const list = typeof types === 'string' ? [types] : [...types];
    for (const type of list) {
      if (!knownTypes.has(type))
        throw new DianaError(EVENT_BUS_ERROR_CODES.EVENT_UNKNOWN, `unknown event type "${type}"`);
    }
    return list;
  };

  // The outbox rows each transaction (or savepoint) of this async context has published, written
  // by one before-commit step per transaction; a savepoint rolled back drops its step and rows.
  const gathered = new WeakMap<object, OutboxRow[]>();
  const gatherForOutbox = async (db: Database, session: object, row: OutboxRow) => {
    const rows = gathered.get(session);
    if (rows) {
      rows.push(row);
      return;
    }
    const first = [row];
    gathered.set(session, first);
    // the statement is returned unawaited: as the transaction's last, it goes out with COMMIT
    await db.beforeCommit?.((tx) => {
      gathered.delete(session);
      return outboxStatement(tx, first);
    });
  };

  const publish = async (type: string, payload: unknown, options: PublishOptions = {}) => {
    assertOpen(closed);
    const definition = events[type];
    const output = validatePayload(events, type, payload);
    // the outbox keeps the key in a text column, which cannot hold U+0000: refused here, direct
    // or not (taken inside a transaction, it failed the caller's COMMIT with E_DB_QUERY)
    if (options.key?.includes('\u0000')) {
      throw new DianaError(EVENT_BUS_ERROR_CODES.EVENT_SCHEMA, `${type}: a key must not hold U+0000`, {
        context: { type },
      });
    }
    const id = newId(clock);
    const envelope: EventEnvelope = {
      id,
      type,
      version: definition?.version ?? 1,
      occurred_at: new Date(clock.now()).toISOString(),
      correlation_id: options.correlation_id ?? options.cause?.correlation_id ?? id,
      causation_id: options.causation_id ?? options.cause?.id ?? null,
      user_id: options.user_id ?? null,
      key: options.key ?? null,
      payload: output,
    };
    // The stored payload is the validated input as given (consumers validate it again).
    const raw = encodeEnvelope({ ...envelope, payload });
    // the transaction in progress in this async context, if any: the outbox joins it
    const db = options.db ?? deps.db;
    const session = options.direct ? undefined : (options.tx ?? db?.session());
    if (session && session !== db?.sql) {
      // the ambient transaction: gathered and written as one statement right before its COMMIT
      // (a press publishes three or four events); a hand-threaded `tx`, or a Database that cannot
      // defer, writes at once
      if (!options.tx && db?.beforeCommit) await gatherForOutbox(db, session, { envelope, raw });
      else await writeToOutbox(session, envelope, raw);
      return envelope;
    }
    // a partitioned type's partition is picked by the key (per-key order), else by the event id
    await appendWithin((signal) => transport.append(type, raw, { signal, partition_key: envelope.key ?? id }), type);
    metrics.published(type);
    return envelope;
  };

  function subscribe(...args: unknown[]): Subscription {
    assertOpen(closing);
    if (typeof args[1] === 'function') {
      const [types, handler, options] = args as [string | string[], EventHandler, BroadcastOptions];
      const consumer = startBroadcastConsumer({
        transport,
        registry: events,
        types: asList(types),
        handler,
        onResync: options?.onResync,
        block_ms: settings.block_ms,
        batch_size: settings.batch_size,
        logger,
      });
      broadcasts.push(consumer);
      return { close: () => consumer.stop() };
    }
    const [group, types, handler, options = {}] = args as [string, string | string[], EventHandler, SubscribeOptions];
    if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(group)) {
      throw new DianaError(EVENT_BUS_ERROR_CODES.BUS_CONFIG, `group "${group}" must be 1–64 of [A-Za-z0-9_.:-]`);
    }
    const list = asList(types);
    for (const type of list) {
      const groups = groupsByType.get(type) ?? new Set();
      groups.add(group);
      groupsByType.set(type, groups);
    }
    const consumer = startGroupConsumer({
      transport,
      registry: events,
      group,
      types: list,
      consumer: consumerName,
      handler,
      concurrency: options.concurrency ?? settings.concurrency,
      ordered_by_key: options.ordered_by_key ?? false,
      config: settings,
      logger,
      metrics,
      group_setup: groupSetup,
    });
    groupConsumers.push(consumer);
    return {
      close: async ({ timeout_ms = 10_000 } = {}) => {
        await consumer.stop(timeout_ms);
        await handBack([consumer]);
      },
    };
  }

  // What stopped consumers hold and no longer work on goes back to the group at once (a peer's
  // next claim takes it), not after claim_idle_ms: entries read but not started at the stop, and
  // a read whose answer the stop cut off. Kept: handlers still running, and every stream a live
  // consumer of this bus reads in the same group (it shares the name, and may be reading now).
  const handBack = async (stopped: readonly GroupConsumer[]) => {
    const { release } = transport;
    if (!release) return;
    const live = groupConsumers.filter((c) => c.status().running);
    // refused alike with Redis down: said once, for every consumer stopped (the bot's eleven)
    const refused: Array<{ group: string; error: unknown }> = [];
    const one = async (consumer: GroupConsumer) => {
      const { group, types } = consumer.status();
      const shared = new Set(live.filter((c) => c.status().group === group).flatMap((c) => c.status().types));
      const free = types.filter((type) => !shared.has(type));
      if (free.length === 0) return;
      const kept = groupConsumers.filter((c) => c.status().group === group).flatMap((c) => c.held());
      try {
        const count = await release.call(transport, group, consumerName, free, kept);
        if (count > 0) logger.info({ group, count }, 'handed back unfinished entries to the group');
      } catch (error) {
        refused.push({ group, error });
      }
    };
    await Promise.all(stopped.map(one));
    if (refused.length > 0)
      logger.warn(
        {
          err: refused[0]?.error,
          consumers: refused.length,
          groups: [...new Set(refused.map(({ group }) => group))],
        },
        'could not hand back unfinished entries: claimed after claim_idle_ms',
      );
  };

  const closer = createCloser(async ({ timeout_ms = 10_000 }) => {
    closing = true;
    stopTrims.abort();
    unobserve();
    await Promise.all([...groupConsumers.map((c) => c.stop(timeout_ms)), ...broadcasts.map((b) => b.stop())]);
    closed = true;
    await handBack(groupConsumers);
    logger.debug('event bus closed');
  });

  const service: EventBusService = {
    publish: publish as EventBusService['publish'],
    subscribe: subscribe as EventBusService['subscribe'],
    subscribeModule(module) {
      const known = module.types.filter((type) => knownTypes.has(type));
      const skipped = module.types.filter((type) => !knownTypes.has(type));
      if (known.length === 0) return { skipped };
      const subscription =
        module.mode === 'broadcast'
          ? subscribe(known, module.handler, { mode: 'broadcast' })
          : subscribe(module.group, known, module.handler);
      return { subscription, skipped };
    },
    once: (group, eventId) => transport.markOnce(`once:{${group}}:${eventId}`, settings.dedupe_ttl_ms),
    loops: () => [...groupConsumers.map((c) => c.status()), ...broadcasts.map((b) => b.status())],
    async health() {
      const consumers = [...groupConsumers.map((c) => c.status()), ...broadcasts.map((b) => b.status())];
      const groups: GroupStats[] = [];
      try {
        for (const type of groupsByType.keys()) groups.push(...(await transport.groupStats(type)));
      } catch (error) {
        return { transport: transport.name, consumers, groups, error: (error as Error).message };
      }
      return { transport: transport.name, consumers, groups };
    },
    dlq: {
      // (async: a refused argument is a rejection, as the transport's errors are)
      list: async (type, limit = 100) => transport.listDeadLetters(asList(type)[0] as string, limit),
      replay: async (type, ids) => transport.replayDeadLetters(asList(type)[0] as string, deadLetterIds(ids)),
      purge: async (type, ids) => transport.purgeDeadLetters(asList(type)[0] as string, deadLetterIds(ids)),
      async counts() {
        const types = [...knownTypes].sort();
        const counts = await Promise.all(types.map((type) => transport.countDeadLetters(type)));
        return types.map((type, i) => ({ type, count: counts[i] ?? 0 })).filter((row) => row.count > 0);
      },
    },
    trim: trimAll,
    close: closer.close,
    [Symbol.asyncDispose]: closer[Symbol.asyncDispose],
  };
  return service as unknown as EventBusService<R>;
}
