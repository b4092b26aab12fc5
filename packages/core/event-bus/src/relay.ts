import { type Database, type MigrationSource, packageMigrations, withoutWait } from '@diana/db';
import type { TransactionSql } from '@diana/postgres';
import { explainRedisError } from '@diana/redis';
import {
  backoffDelay,
  type Closeable,
  createCloser,
  createFailureStreak,
  DianaError,
  getPackageLogger,
  type Logger,
  parseOrThrow,
  runPeriodically,
  sleep,
  waitWithin,
} from '@diana/utils';
import { EventBusConfig, type EventBusConfigInput, inboxRetentionTooShort } from './config.js';
import { EVENT_BUS_ERROR_CODES } from './errors.js';
import { FILES } from './files.js';
import { createBusMetrics, observeOutbox } from './metrics.js';
import { OUTBOX_CHANNEL } from './outbox.js';
import { typeOfStreamKey } from './partitions.js';
import { pruneEventTables, uuidv7Floor } from './retention.js';
import type { StreamTransport } from './types.js';

/** How long the relay waits for its LISTEN session before it polls only. */
const LISTEN_TIMEOUT_MS = 10_000;

/** The migrations this package owns (`event_outbox`, `event_inbox`). */
export const EVENT_BUS_MIGRATIONS: MigrationSource = packageMigrations('@diana/event-bus', FILES);

/** The relay that moves committed outbox rows onto their streams. */
export interface OutboxRelay extends Closeable {
  /** One pass: appends up to a batch of unpublished rows; returns how many. */
  drain(): Promise<number>;
  /** The relay loop now: running until closed, passes failed in a row, last pass that succeeded. */
  status(): { running: boolean; consecutive_failures: number; last_ok_at: number | undefined };
}

/** What `createOutboxRelay` needs besides its config. */
export interface OutboxRelayDeps {
  readonly db: Database;
  readonly transport: StreamTransport;
  readonly logger?: Logger;
  /** Test hook: runs after the rows were appended and before their mark (published) commits (over a transport with `settled`: after every pass, rows or none). */
  readonly afterAppend?: (count: number) => Promise<void>;
  /**
   * The first pass waits for it. Over a transport that has `settled` (memory), the app passes its
   * subscriptions' start: an entry appended before any group exists counts as handled at once.
   */
  readonly start?: Promise<unknown>;
}

const RELAY_LOCK = 'diana.outbox.relay';
/** A stream an append found without its keep mark: its type, and whether it had history. */
interface Unmarked {
  readonly type: string;
  readonly history: boolean;
}

/** Rows per delete of the retention prune, and deletes per table per prune at most. */
const PRUNE_BATCH = 2_000;
const PRUNE_MAX_BATCHES = 25;
/** Per type, the newest relayed rows the check at start asks Redis about (see `checkAtStart`). */
const WITNESSES_PER_TYPE = 16;
/** The longest a relay transaction stays open over held passes (see `drainHeld`). */
const HOLD_MAX_MS = 1_000;

/**
 * Appends committed outbox rows to their streams, in id order, then marks them — one relay
 * at a time across processes (an advisory lock; the others stand by), woken by NOTIFY with
 * a polling fallback. Appends go through an append-once guard keyed by the event id, so a
 * relay that dies between appending and marking never produces a second entry.
 */
export function createOutboxRelay(config: EventBusConfigInput, options: OutboxRelayDeps): OutboxRelay {
  const settings = parseOrThrow(EventBusConfig, config, {
    code: EVENT_BUS_ERROR_CODES.BUS_CONFIG,
    message: 'invalid event bus config',
  });
  if (inboxRetentionTooShort(settings))
    throw new DianaError(
      EVENT_BUS_ERROR_CODES.BUS_CONFIG,
      `inbox_retention_ms (DIANA_EVENT_BUS_INBOX_RETENTION_MS) must be 0 or at least dedupe_ttl_ms (DIANA_EVENT_BUS_DEDUPE_TTL_MS): ${settings.inbox_retention_ms} < ${settings.dedupe_ttl_ms} — an event appended again after its inbox record is gone would run again`,
      { context: { inbox_retention_ms: settings.inbox_retention_ms, dedupe_ttl_ms: settings.dedupe_ttl_ms } },
    );
  const { db, transport } = options;
  const logger = getPackageLogger(options.logger, 'event-bus');
  const batch = settings.outbox_batch_size;
  const hold = settings.outbox_hold_ms;
  // relayed events count as published (`diana.events.published`), like direct appends
  const metrics = createBusMetrics();
  const stop = new AbortController();
  let wake: (() => void) | undefined;
  // a NOTIFY that came while a pass was running: the next wait is skipped
  let notified = false;
  let unlisten: (() => Promise<void>) | undefined;
  // through an outage: a warning at the first failed pass (and each minute after), not at each retry
  const passFailures = createFailureStreak({
    logger,
    message: 'outbox relay pass failed; rows stay for the next pass',
    recovered: 'outbox relay passes work again',
    explain: explainRedisError,
  });
  let lastOk: number | undefined;

  /**
   * A row's event on its stream, once per event id (a second append meets its marker). `unmarked`
   * collects the streams the transport found without their keep mark: their type, and whether
   * they had history (appended to before marks) or none (new, or lost).
   */
  const appendRow = (
    row: { id: string; type: string; key: string | null; envelope: string },
    unmarked?: Map<string, Unmarked>,
  ) =>
    transport.append(row.type, row.envelope, {
      dedupe_id: row.id,
      dedupe_ttl_ms: settings.dedupe_ttl_ms,
      ...(unmarked
        ? {
            on_stream_unmarked: (stream: string, history: boolean) => unmarked.set(stream, { type: row.type, history }),
          }
        : {}),
      // the partition publish would pick: by key, else by id (so a re-append meets its marker)
      partition_key: row.key ?? row.id,
    });

  // Over a transport whose entries die with the process (`settled`: memory), a row is marked only
  // once every group has handled its entry: a crash before leaves it for the next start, which
  // appends it again (the handlers' inbox and once-marks make a second run harmless). Until then
  // it is in flight here, and the passes skip it; past ten batches in flight (handlers far
  // behind) a pass picks none.
  const settled = transport.settled?.bind(transport);
  const inFlight = new Set<string>();
  const maxInFlight = batch * 10;
  let toMark: string[] = [];
  // one marking loop at a time: ids settled while it runs join its next statement
  let marking = false;
  const markSettled = (id: string) => {
    toMark.push(id);
    if (marking) return;
    marking = true;
    void (async () => {
      await Promise.resolve(); // those settled in the same turn: one statement
      while (toMark.length > 0) {
        const ids = toMark;
        toMark = [];
        try {
          await db.sql`update event_outbox set published_at = statement_timestamp() where id = any(${ids}::uuid[])`;
        } catch (error) {
          // left unpublished: the next pass appends them again, which finds their entries settled
          logger.warn(
            { err: error, rows: ids.length },
            'outbox relay: marking handled rows failed; they are relayed again',
          );
        } finally {
          for (const id of ids) inFlight.delete(id);
        }
      }
      marking = false;
    })();
  };
  /** A pass over a volatile transport: appends rows not yet in flight, each marked once handled. */
  const passVolatile = async (tx: TransactionSql, whenSettled: NonNullable<StreamTransport['settled']>) => {
    if (inFlight.size >= maxInFlight) return 0;
    const rows = await tx<{ id: string; type: string; key: string | null; envelope: string }[]>`
      with relay as (select pg_try_advisory_xact_lock(hashtext(${RELAY_LOCK})) as got)
      select id, type, key, envelope from event_outbox, relay
      where relay.got and published_at is null and id <> all(${[...inFlight]}::uuid[])
      order by id
      limit ${batch}`;
    for (const row of rows) {
      const entry = await appendRow(row);
      inFlight.add(row.id);
      metrics.published(row.type);
      void whenSettled(row.type, entry).then(() => markSettled(row.id));
    }
    await options.afterAppend?.(rows.length);
    return rows.length;
  };

  /** One pass in `tx`: the rows it moved (appended, and marked in `tx`). */
  const pass = async (tx: TransactionSql) => {
    if (settled) return passVolatile(tx, settled);
    // the lock, the read and the mark in one statement (one round trip): a relay that does not
    // get the lock reads no rows (the CTE is evaluated once, before any row). The mark commits
    // only with the transaction, after the appends: a relay that dies before leaves the rows
    // unpublished, and the append-once guard keeps their second append from making a second entry.
    const rows = await tx<{ id: string; type: string; key: string | null; envelope: string }[]>`
      with relay as (select pg_try_advisory_xact_lock(hashtext(${RELAY_LOCK})) as got),
      picked as (
        select id from event_outbox, relay
        where relay.got and published_at is null
        order by id
        limit ${batch}
        for update of event_outbox skip locked),
      marked as (
        update event_outbox o set published_at = statement_timestamp() from picked where o.id = picked.id
        returning o.id, o.type, o.key, o.envelope)
      select id, type, key, envelope from marked order by id`;
    if (rows.length === 0) return 0;
    // Sent back to back on one connection: Redis appends them in this (per-key) order.
    const unmarked = new Map<string, Unmarked>();
    await Promise.all(rows.map((row) => appendRow(row, unmarked)));
    for (const row of rows) metrics.published(row.type);
    if (unmarked.size > 0) await relayLostAgain(tx, unmarked, rows);
    await options.afterAppend?.(rows.length);
    return rows.length;
  };

  // A stream Redis lost (restarted without AOF, flushed), or whose last entries it lost (restarted
  // from an older snapshot, a replica behind promoted), took with it the entries the relay had
  // appended and no group had handled yet, whose rows are marked. Those published within
  // lost_stream_replay_ms are unmarked, and the next pass appends them again (their markers went
  // with the stream); each group's inbox skips the ones it had handled. Found by an append that
  // meets the stream without its history, or by the check every retention_interval_ms (a type
  // published rarely would meet it too late). Before, they were lost for good: 10 of 12 decision
  // rewards in a reviewer's run, with one warning about a recreated group.
  const replayMs = settings.lost_stream_replay_ms;
  /** Records streams as appended to (once each); returns those recorded now. */
  const record = async (tx: TransactionSql, streams: readonly string[], types: readonly string[]) => {
    const rows = await tx<{ stream: string }[]>`
      insert into event_relay_streams (stream, type) select * from unnest(${streams}::text[], ${types}::text[])
      on conflict (stream) do nothing returning stream`;
    return new Set(rows.map((row) => row.stream));
  };
  /**
   * Records the streams an append found without their keep mark; returns the types of those
   * recorded before and found without history: lost.
   */
  const lostAmong = async (tx: TransactionSql, unmarked: Map<string, Unmarked>) => {
    // a stream not appended to before is new (a new type, prefix or server): nothing lost; one
    // with history was appended to before marks were kept. Recorded in the pass's transaction
    // (an embedded database has one session): a pass that fails after its appends leaves the
    // stream unrecorded, and a later loss of it taken for a new stream
    const streams = [...unmarked.keys()];
    const added = await record(
      tx,
      streams,
      streams.map((stream) => unmarked.get(stream)?.type as string),
    );
    const lost = streams.filter((stream) => !added.has(stream) && unmarked.get(stream)?.history === false);
    return new Set(lost.map((stream) => unmarked.get(stream)?.type as string));
  };
  /** Unmarks the rows of `types` published within the window (but `appended`), and says so. */
  const relayAgain = async (tx: TransactionSql, types: Set<string>, appended: readonly string[]) => {
    const again =
      replayMs === 0
        ? []
        : await tx<{ type: string; n: number }[]>`
            with unmarked as (
              update event_outbox set published_at = null
              where type = any(${[...types]}) and id <> all(${appended}::uuid[])
                and published_at >= statement_timestamp() - make_interval(secs => ${replayMs / 1000})
              returning type)
            select type, count(*)::int as n from unmarked group by type`;
    for (const type of types) {
      const rows = again.find((row) => row.type === type)?.n ?? 0;
      if (replayMs === 0)
        logger.error(
          { type },
          'outbox relay: Redis lost this stream or its last entries (restarted without AOF or from an older snapshot, or flushed); events relayed before and not yet handled are lost (lost_stream_replay_ms is 0)',
        );
      else if (rows > 0)
        logger.error(
          { type, rows, lost_stream_replay_ms: replayMs },
          'outbox relay: Redis lost this stream or its last entries (restarted without AOF or from an older snapshot, or flushed); the rows published within lost_stream_replay_ms are relayed again (each group skips what it had handled)',
        );
      else
        logger.warn(
          { type, lost_stream_replay_ms: replayMs },
          'outbox relay: Redis lost this stream or its last entries (restarted without AOF or from an older snapshot, or flushed); no row of it was published within lost_stream_replay_ms',
        );
    }
    if (again.length > 0) notified = true; // the next pass takes them at once
    return again.reduce((sum, row) => sum + row.n, 0);
  };
  const relayLostAgain = async (
    tx: TransactionSql,
    unmarked: Map<string, Unmarked>,
    appended: ReadonlyArray<{ id: string }>,
  ) => {
    const lost = await lostAmong(tx, unmarked);
    const ids = appended.map((row) => row.id);
    if (lost.size > 0) await relayAgain(tx, lost, ids);
  };
  /** The periodic check: the streams appended to before that Redis has lost since; their rows relayed again. */
  const checkLost = async () => {
    if (!transport.lostStreams) return 0;
    const known = await db.sql<{ stream: string; type: string }[]>`select stream, type from event_relay_streams`;
    if (known.length === 0) return 0;
    const lost = await transport.lostStreams(known.map((row) => row.stream));
    if (lost.length === 0) return 0;
    const types = new Set(known.filter((row) => lost.includes(row.stream)).map((row) => row.type));
    const again = await db.transaction(async (tx) => {
      // behind the relay's own transaction: rows it appended before the loss and has not yet
      // committed as marked would be missed by the unmarking, then committed as published
      await tx`select pg_advisory_xact_lock(hashtext(${RELAY_LOCK}))`;
      return relayAgain(tx, types, []);
    });
    wake?.();
    return again;
  };
  /**
   * The check before the first pass, with witnesses. A process that starts together with a Redis
   * come back from an older snapshot (a host's reboot with Redis on RDB snapshots, or on
   * `appendfsync everysec` and its last second) has no floor: the keep marks came back with their
   * streams, and the entries after them are gone without a trace in Redis. The database still
   * knows what was relayed: the newest published rows of each type within the replay window are
   * the witnesses, and a stream whose newest witness's append-once marker is gone (it lives
   * `dedupe_ttl_ms`) lost its last entries. Under the relay's lock, with the unmarking, so that of
   * processes starting together one is told: those after it find the rows unmarked or relayed again.
   */
  // A witness's marker was set at its row's first append, after the row was written: written
  // within 90% of dedupe_ttl_ms, it is alive unless lost. Rows appended again (a replay) keep
  // their first marker's time but get a new published_at, so the age is the id's (UUIDv7, when the
  // row was written), not published_at's; and at most twice the window, a backlog's rows included.
  const witnessAgeMs = Math.min(Math.floor(settings.dedupe_ttl_ms * 0.9), 2 * replayMs);
  const checkAtStart = async () => {
    // (no replay, nothing to do about a loss but say it — and with the rows left marked, every
    // start would say it again: the running relay's floors still tell)
    if (!transport.lostStreams || settled || witnessAgeMs <= 0) return;
    await db.transaction(async (tx) => {
      await tx`select pg_advisory_xact_lock(hashtext(${RELAY_LOCK}))`;
      const known = await tx<{ stream: string }[]>`select stream from event_relay_streams`;
      const witnesses = await tx<{ type: string; id: string; key: string | null }[]>`
        select type, id, key from (
          select type, id::text as id, key,
                 row_number() over (partition by type order by published_at desc, id desc) as n
          from event_outbox
          where id >= ${uuidv7Floor(Date.now() - witnessAgeMs)}::uuid
            and published_at >= statement_timestamp() - make_interval(secs => ${replayMs / 1000})
        ) newest
        where n <= ${WITNESSES_PER_TYPE}
        order by type, n`;
      const lost = await transport.lostStreams?.(
        known.map((row) => row.stream),
        witnesses.map((row) => ({ type: row.type, dedupe_id: row.id, partition_key: row.key ?? row.id })),
      );
      if (!lost || lost.length === 0) return;
      // a lost stream the records missed is recorded now (the periodic check looks at it from now on)
      const types = lost.map(typeOfStreamKey);
      await record(tx, lost, types);
      // (relayAgain sets `notified`: the first pass takes them at once)
      await relayAgain(tx, new Set(types), []);
    });
  };
  const drain = () => db.transaction(pass);
  /**
   * The loop's passes: while listening, after a pass that moved rows its transaction stays open
   * up to `outbox_hold_ms` for the next NOTIFY, whose pass runs in it — that pass's BEGIN and the previous
   * one's COMMIT saved (a round trip per pass under steady traffic). Every pass has appended its
   * rows before the wait: holding delays their marks, never a delivery. A transaction holds for
   * HOLD_MAX_MS at most, then commits. Returns the last pass's count.
   */
  const drainHeld = () =>
    db.transaction(async (tx) => {
      const began = performance.now();
      for (;;) {
        const moved = await pass(tx);
        if (performance.now() - began >= HOLD_MAX_MS) return moved;
        if (moved === batch) continue; // more may be waiting
        // polling (no NOTIFY to wait for), holding off, or nothing moved: commit now
        if (moved === 0 || hold === 0 || unlisten === undefined) return moved;
        if (!(await nextWake(hold))) return moved;
      }
    });
  /** Resolves true on a NOTIFY (one that came while a pass ran included), false after `ms` or on close. */
  const nextWake = (ms: number) => {
    if (notified) {
      notified = false;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      // one abort listener per wait, removed when the wait ends (a listener left behind on
      // every poll would pile up for the life of the process)
      const end = (woken: boolean) => {
        clearTimeout(timer);
        stop.signal.removeEventListener('abort', quiet);
        wake = undefined;
        resolve(woken);
      };
      const quiet = () => end(false); // the time ran out, or the relay is closing
      const timer = setTimeout(quiet, ms);
      wake = () => end(true);
      stop.signal.addEventListener('abort', quiet, { once: true });
    });
  };

  const loop = async () => {
    // (a close before the start ends the wait)
    if (options.start)
      await new Promise<void>((resolve) => {
        options.start?.then(
          () => resolve(),
          () => resolve(),
        );
        stop.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    // A single-session server (embedded PGlite), or a transaction pooler without a direct URL,
    // cannot LISTEN: poll. Behind a pooler with `direct_url`, db.listen uses a direct session.
    if (db.listen_notify !== false) {
      try {
        const pending = db.listen(OUTBOX_CHANNEL, () => {
          if (wake) wake();
          else notified = true;
        });
        // a LISTEN session that does not open (a server out of connection slots) must not stall
        // the relay, nor its close: past LISTEN_TIMEOUT_MS it polls, and a late listener is dropped
        let timer: ReturnType<typeof setTimeout> | undefined;
        const listener = await Promise.race([
          pending,
          new Promise<undefined>((resolve) => {
            timer = setTimeout(() => resolve(undefined), LISTEN_TIMEOUT_MS);
            stop.signal.addEventListener('abort', () => resolve(undefined), { once: true });
          }),
        ]).finally(() => clearTimeout(timer));
        if (!listener) {
          pending.then((late) => late.unlisten()).catch(() => {});
          throw new Error(`LISTEN did not open within ${LISTEN_TIMEOUT_MS} ms`);
        }
        unlisten = () => listener.unlisten();
        logger.info(
          { listen: db.pooler === 'transaction' ? 'direct_url' : 'pool', poll_ms: settings.outbox_poll_ms },
          db.pooler === 'transaction'
            ? 'outbox relay: woken by LISTEN over direct_url (outside the pooler), polling as a fallback'
            : 'outbox relay: woken by LISTEN, polling as a fallback',
        );
      } catch (error) {
        logger.info({ err: error, poll_ms: settings.outbox_poll_ms }, 'outbox relay: LISTEN unavailable, polling only');
      }
    } else {
      logger.info(
        { listen: 'off', poll_ms: settings.outbox_poll_ms },
        db.pooler === 'transaction'
          ? 'outbox relay: polling only (a transaction pooler and no direct_url: no LISTEN)'
          : 'outbox relay: polling only (the database has one session: no LISTEN)',
      );
    }
    let checked = false;
    while (!stop.signal.aborted) {
      try {
        if (!checked) {
          await checkAtStart();
          checked = true;
        }
        const moved = await drainHeld();
        passFailures.succeeded();
        lastOk = Date.now();
        // a full batch: more may be waiting. A short one took every row committed before its
        // read; a row committed since then sent a NOTIFY (`notified`: the wait below ends at once), so while
        // listening no empty pass is run to find that out (it cost 4 round trips per wake-up)
        if (moved === batch || (moved > 0 && unlisten === undefined)) continue;
      } catch (error) {
        const failures = passFailures.failed(error);
        // at most 1 s between failing passes: a pass costs one statement, and a relay that waited
        // up to 5 s after PostgreSQL or Redis came back held the events back, and reported itself
        // failing to /readyz, seconds after the bot answered again (a PgBouncer restart: 4–5 s)
        await sleep(backoffDelay(failures, { base_ms: 200, max_ms: 1_000 }), stop.signal).catch(() => {});
        continue;
      }
      if (stop.signal.aborted) break;
      await nextWake(settings.outbox_poll_ms);
    }
  };
  const running = loop();

  // Published outbox rows and inbox records past their retention, every retention_interval_ms
  // (off the passes: a prune never delays a relay pass)
  const pruneFailures = createFailureStreak({
    logger,
    message: 'removing event rows past their retention failed; tried again at the next interval',
    recovered: 'event rows past their retention are removed again',
  });
  const keeping = settings.outbox_retention_ms === 0 && settings.inbox_retention_ms === 0;
  const pruning = keeping
    ? undefined
    : runPeriodically(
        { interval_ms: settings.retention_interval_ms, signal: stop.signal, failures: pruneFailures },
        async (signal) => {
          const removed = await pruneEventTables(db, {
            outbox_retention_ms: settings.outbox_retention_ms,
            inbox_retention_ms: settings.inbox_retention_ms,
            batch: PRUNE_BATCH,
            max_batches: PRUNE_MAX_BATCHES,
            signal,
          });
          metrics.pruned('outbox', removed.outbox);
          metrics.pruned('inbox', removed.inbox);
          if (removed.outbox + removed.inbox > 0) logger.debug(removed, 'event rows past their retention removed');
        },
      );
  // streams Redis lost while nothing of their type was appended, every retention_interval_ms
  const checkFailures = createFailureStreak({
    logger,
    message: 'outbox relay: looking for streams Redis lost failed; tried again at the next interval',
    recovered: 'outbox relay: looking for streams Redis lost works again',
    explain: explainRedisError,
  });
  const checking =
    transport.lostStreams && !settled
      ? runPeriodically(
          { interval_ms: settings.retention_interval_ms, signal: stop.signal, failures: checkFailures },
          checkLost,
        )
      : undefined;
  // (read for /metrics: with PostgreSQL down it reports nothing at once, not after waiting for it)
  const unobserve = observeOutbox(async () => {
    const [row] = await withoutWait(db.sql<{ backlog: number; oldest_s: number }[]>`
      select count(*)::int as backlog,
             coalesce(extract(epoch from now() - min(created_at)), 0)::float8 as oldest_s
      from event_outbox where published_at is null`);
    return row ?? { backlog: 0, oldest_s: 0 };
  });

  const closer = createCloser(async ({ timeout_ms }) => {
    unobserve();
    stop.abort();
    wake?.();
    // a pass in progress ends at its next step; past timeout_ms the close does not wait for it
    await waitWithin(Promise.all([running, pruning, checking]), timeout_ms);
    await unlisten?.().catch(() => {});
  });
  return {
    drain,
    status: () => ({ running: !stop.signal.aborted, consecutive_failures: passFailures.failures, last_ok_at: lastOk }),
    close: closer.close,
    [Symbol.asyncDispose]: closer.close,
  };
}
